"""Model-based detectors: features, encoders, estimators (scikit-learn contract)
and the detectors that use trained models. Pure: models arrive in
`DetectionContext.models`, loaded by the agent."""

# `detection.heuristics` discovers this package's detectors. Importing one of
# them first must not leave the registry without it: load the registry first.
import detection.heuristics  # noqa: F401
