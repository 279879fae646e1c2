"""Estimators that train with scikit-learn and predict with exported numpy arrays.

Both follow the scikit-learn estimator contract (no logic in ``__init__``,
``fit`` returns ``self``, learned attributes end in ``_``, randomness through
``random_state``), and both are binary. After ``fit`` the whole model is
``scorer_``: a `detection.ml._models` scorer built from plain arrays, and
``predict_proba`` goes through it — so what a test or a validation measures is
exactly the code the detectors run on a loaded model file, not scikit-learn's.

* `BoostedTrees`: ``GradientBoostingClassifier`` with a zero initial estimate
  (the exported trees then carry the whole decision), trees exported to
  `TreeScorer` node arrays.
* `LinearModel`: standardisation + ``LogisticRegression``, exported to
  `LinearScorer` (mean, scale, coefficients, intercept).

``class_weight="balanced"`` gives each class half of the total weight (malicious
rows outnumber benign ones by 10 to 1 in some captures, and the reverse in others).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from detection.ml._models import LinearScorer, Scorer, TreeScorer, sigmoid

__all__ = ["BoostedTrees", "LinearModel", "balanced_weights"]


def balanced_weights(y: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float).copy()
    for c in np.unique(y):
        m = y == c
        total = w[m].sum()
        if total > 0:
            w[m] *= 0.5 / total  # each class: half of the total weight
    return w * len(y)


class _Binary(ClassifierMixin, BaseEstimator):
    scorer_: Scorer

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _check_fit(
        self, X: Any, y: Any, sample_weight: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        X, y = validate_data(self, X, y, dtype=np.float64)
        target = type_of_target(y, raise_unknown=True)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError("training needs two classes, got one class")
        if target != "binary":
            raise ValueError(
                f"Only binary classification is supported. The type of the target is {target}."
            )
        self.classes_ = classes
        w = None if sample_weight is None else _check_sample_weight(sample_weight, X)
        return X, (y == classes[1]).astype(np.int64), w

    def decision_function(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "scorer_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.scorer_.decision(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        p = sigmoid(self.decision_function(X))
        return np.column_stack((1.0 - p, p))

    def predict(self, X: Any) -> np.ndarray:
        d = self.decision_function(X)
        return self.classes_[(d > 0).astype(int)]


class BoostedTrees(_Binary):
    def __init__(  # noqa: PLR0917  # scikit-learn: hyper-parameters as __init__ arguments
        self,
        n_estimators: int = 100,
        max_depth: int = 3,
        learning_rate: float = 0.1,
        subsample: float = 0.8,
        max_features: float | None = None,
        class_weight: str | None = "balanced",
        random_state: int | None = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.max_features = max_features
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> BoostedTrees:
        X, y01, w = self._check_fit(X, y, sample_weight)
        if self.class_weight == "balanced":
            w = balanced_weights(y01, w)
        gb = GradientBoostingClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            subsample=self.subsample,
            max_features=self.max_features,
            init="zero",
            random_state=self.random_state,
        )
        gb.fit(X, y01, sample_weight=w)
        feature, threshold, left, right, value, roots = [], [], [], [], [], []
        offset = 0
        for (est,) in gb.estimators_:
            t = est.tree_
            roots.append(offset)
            inner = t.children_left >= 0
            feature.append(np.where(inner, t.feature, -1))
            threshold.append(np.where(inner, t.threshold, 0.0))
            left.append(np.where(inner, t.children_left + offset, -1))
            right.append(np.where(inner, t.children_right + offset, -1))
            value.append(np.where(inner, 0.0, t.value[:, 0, 0] * gb.learning_rate))
            offset += t.node_count
        self.scorer_ = TreeScorer(
            np.concatenate(feature),
            np.concatenate(threshold),
            np.concatenate(left),
            np.concatenate(right),
            np.concatenate(value),
            np.array(roots),
            X.shape[1],
        )
        return self


class LinearModel(_Binary):
    def __init__(
        self,
        C: float = 1.0,
        class_weight: str | None = "balanced",
        max_iter: int = 2000,
        random_state: int | None = 0,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LinearModel:
        X, y01, w = self._check_fit(X, y, sample_weight)
        if self.class_weight == "balanced":
            w = balanced_weights(y01, w)
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[~(scale > 1e-12)] = 1.0
        lr = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state)
        lr.fit((X - mean) / scale, y01, sample_weight=w)
        self.n_iter_ = lr.n_iter_
        self.scorer_ = LinearScorer(mean, scale, lr.coef_[0].copy(), float(lr.intercept_[0]))
        return self
