"""Model-based detectors: features, encoders, estimators (scikit-learn contract)
and the detectors that use trained models. Pure: models arrive in
`DetectionContext.models`, loaded by the agent."""
