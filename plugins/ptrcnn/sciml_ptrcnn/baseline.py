"""Trivial baselines of the regression (:meth:`RegressionEvaluator.baselines`).

- The training-mean predictor: every compound gets the mean label of the training split.
- Kernel ridge regression (paper §Prediction accuracy and Fig. S4) on the vector (line)
  representation of Fig. s2c, i.e. the Mendeleev-ordered line of 52 element counts:
  scikit-learn ``KernelRidge`` with an RBF kernel; ``alpha`` and ``gamma`` chosen by 3-fold grid
  search on the training set (the paper gives no hyperparameters).
"""

from __future__ import annotations

import numpy as np


def fit_krr(x_train: np.ndarray, y_train: np.ndarray, seed: int = 0):
    """Fit KRR on ``x_train`` ``(n, n_features)`` (flattened line images) and ``y_train`` ``(n,)``.

    Returns the fitted ``GridSearchCV`` (predict with ``.predict(x)``).
    """
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV, KFold

    grid = {"alpha": [1e-3, 1e-2, 1e-1], "gamma": [0.01, 0.05, 0.2]}
    search = GridSearchCV(KernelRidge(kernel="rbf"), grid, cv=KFold(3, shuffle=True, random_state=seed),
                          scoring="neg_mean_absolute_error")
    x = np.asarray(x_train, dtype=np.float64).reshape(len(x_train), -1)
    search.fit(x, np.asarray(y_train, dtype=np.float64))
    return search


def krr_predict(model, x: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Predictions ``(n,)`` of a model from :func:`fit_krr` for ``x`` ``(n, ...)``, ``chunk`` rows at a
    time (the kernel against the training set is ``chunk x n_train`` floats, not ``n x n_train``)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if len(x) == 0:
        return np.zeros(0)
    return np.concatenate([model.predict(x[i:i + chunk]) for i in range(0, len(x), chunk)])


def mean_predictor(y_train: np.ndarray) -> np.ndarray:
    """The training-mean predictor: the mean of each column of ``y_train`` ``(n, n_targets)`` over
    its finite values (NaN where a column has none), shape ``(n_targets,)``."""
    y = np.asarray(y_train, dtype=np.float64)
    ok = np.isfinite(y)
    n = ok.sum(axis=0)
    total = np.where(ok, y, 0.0).sum(axis=0)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)
