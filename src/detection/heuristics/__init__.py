"""Heuristic detectors, one per module, found by discovery.

Every public module of this package (not starting with ``_``, not ``base``) that
defines a concrete `Detector` subclass with a ``name`` contributes it to
`REGISTRY` (so does every public module of `detection.ml`), sorted by name (a
stable run order). Adding a detector is adding a module: no list to edit, and
its ``Params`` model becomes the config section ``detectors.<name>``
(`agent.config`).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import detection.ml as ml_package
from detection.heuristics.base import DetectionContext, Detector


def _discover() -> tuple[type[Detector], ...]:
    # Heuristics live here; model-based detectors in `detection.ml` follow the
    # same contract and are discovered the same way (one registry, one config).
    found: dict[str, type[Detector]] = {}
    packages = ((__name__, __path__), (ml_package.__name__, ml_package.__path__))
    for package, path in packages:
        for info in pkgutil.iter_modules(path):
            if info.name.startswith("_") or info.name == "base":
                continue
            module = importlib.import_module(f"{package}.{info.name}")
            for obj in vars(module).values():
                if (
                    inspect.isclass(obj)
                    and issubclass(obj, Detector)
                    and not inspect.isabstract(obj)
                    and obj.__module__ == module.__name__
                ):
                    if obj.name in found:
                        raise RuntimeError(f"two detectors named {obj.name!r}")
                    found[obj.name] = obj
    return tuple(found[name] for name in sorted(found))


REGISTRY: tuple[type[Detector], ...] = _discover()

__all__ = ["REGISTRY", "DetectionContext", "Detector"]
