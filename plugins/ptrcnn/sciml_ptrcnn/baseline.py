"""Trivial baselines of the regression (:meth:`RegressionEvaluator.baselines`).

- The training-mean predictor: every compound gets the mean label of the training split.
- Kernel ridge regression (paper §Prediction accuracy and Fig. S4) on the vector (line)
  representation of Fig. s2c, i.e. the Mendeleev-ordered line of 52 element counts:
  scikit-learn ``KernelRidge`` with an RBF kernel; ``alpha`` and ``gamma`` chosen by 3-fold grid
  search on the training set (the paper gives no hyperparameters).
- Magpie + random forest (issue 15), the usual composition-based peer in materials informatics:
  the 132 Magpie descriptors of a formula (matminer's ``ElementProperty.from_preset("magpie")``:
  min, max, range, mean, average deviation and mode of 22 element properties over the
  composition; Ward et al., npj Comput. Mater. 2, 16028, 2016) fed to scikit-learn's
  ``RandomForestRegressor``. The preset's element tables ship inside matminer's wheel (no
  download). matminer is optional (extra ``[magpie]``): :func:`magpie_available` says whether
  it is importable.
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


MAGPIE_MISSING = ("baseline magpie_rf skipped: matminer is not installed "
                  "(pip install --no-deps 'matminer>=0.9' or 'sciml-ptrcnn[magpie]'; matminer 0.10 caps pandas<3)")


def magpie_available() -> bool:
    """Whether matminer (the Magpie featurizer) can be imported."""
    import importlib.util

    return importlib.util.find_spec("matminer") is not None


def magpie_features(formulas) -> np.ndarray:
    """The 132 Magpie descriptors ``(n, 132)`` of ``formulas`` (e.g. ``"Co2MnGa"``), in the order of
    matminer's ``ElementProperty.from_preset("magpie").feature_labels()``.

    Raises:
        ModuleNotFoundError: matminer is not installed (message :data:`MAGPIE_MISSING`).
    """
    if not magpie_available():
        raise ModuleNotFoundError(MAGPIE_MISSING)
    from matminer.featurizers.composition import ElementProperty
    from pymatgen.core import Composition

    featurizer = ElementProperty.from_preset("magpie")
    rows = [featurizer.featurize(Composition(str(f))) for f in formulas]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(featurizer.feature_labels()))


def fit_random_forest(x_train: np.ndarray, y_train: np.ndarray, seed: int = 0, n_estimators: int = 200):
    """scikit-learn ``RandomForestRegressor`` (``n_estimators`` trees, otherwise sklearn's defaults:
    full-depth trees, all features per split) on ``x_train`` ``(n, n_features)`` and ``y_train``
    ``(n,)``; one thread (the machine's cores belong to the run). Returns the fitted forest."""
    from sklearn.ensemble import RandomForestRegressor

    rf = RandomForestRegressor(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    return rf.fit(np.asarray(x_train, dtype=np.float64), np.asarray(y_train, dtype=np.float64))
