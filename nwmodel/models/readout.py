"""The readout layer shared by every reservoir estimator: trajectory features and ridge readouts.

A reservoir (the abstract NW-ESN or ESN, or a physical network read through
:class:`hardware.Device`) turns each series into a **trajectory**: one row of values per input
sample, ``(n_cases, n_samples, n_per_sample)``. For the abstract reservoirs a row is the state
``h(t)`` (``n_units`` values); for a physical one it is what the device reads at the end of each
of the sample's ``n_virtual`` sub-steps (``n_virtual * n_read`` values). The readout sees
features of that trajectory (:data:`FEATURE_SETS`, :func:`trajectory_features`):

=================  ============================================================================
``features``       what the readout sees, per case
=================  ============================================================================
``"last"``         the last sample's row (the published readout)
``k`` (int >= 1)   the rows of ``k`` equally spaced sample ends, the last included: the ends of
                   samples ``ceil(j T / k)``, ``j = 1 .. k`` (``T`` samples; ``1`` is ``"last"``)
``"all"``          every sample's row
``"pooled"``       the last row, then the mean and the population standard deviation of the rows
                   over the series
=================  ============================================================================

:class:`RidgeReadout` fits scikit-learn's ridge on those features, optionally standardised with
the training mean and standard deviation, with a fixed strength or one chosen on the training
data alone by efficient leave-one-out over a grid (``alpha="loo"``: scikit-learn's
:class:`~sklearn.linear_model.RidgeClassifierCV` / :class:`~sklearn.linear_model.RidgeCV` with
``cv=None``; default grid :data:`RIDGE_ALPHAS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar, Literal

import numpy as np
from sklearn.linear_model import Ridge, RidgeClassifier, RidgeClassifierCV, RidgeCV
from sklearn.utils.validation import check_is_fitted

from nwmodel._checks import check_choice, check_int, check_real
from nwmodel._estimator import ValidatedEstimator, choice, number, satisfies
from nwmodel.errors import ModelValidationError

__all__ = [
    "FEATURE_SETS",
    "READOUT_CONSTRAINTS",
    "READOUT_PARAMS",
    "RIDGE_ALPHAS",
    "RidgeReadout",
    "check_alphas",
    "check_feature_set",
    "fit_readouts",
    "memory_capacity",
    "predict_readouts",
    "reservoir_key",
    "sample_ends",
    "standardization",
    "trajectory_features",
]

#: Named feature sets of :func:`trajectory_features` (an int ``k`` selects ``k`` sample ends).
FEATURE_SETS: tuple[str, ...] = ("last", "all", "pooled")

#: Default ridge grid of ``alpha="loo"``: 1e-6 .. 1e6, one value per decade (13 values).
RIDGE_ALPHAS: tuple[float, ...] = tuple(float(10.0**e) for e in range(-6, 7))

#: Estimator parameters that act on the readout only: estimators that differ in these alone share
#: their reservoir run (see :func:`nwmodel.selection.search.select_and_test`).
READOUT_PARAMS: tuple[str, ...] = ("features", "ridge_alpha", "alphas", "standardize")


def check_feature_set(features: Any, n_samples: int | None = None) -> str | int:
    """Validate a feature-set name or sample-end count; return it (an int as ``int``).

    Parameters
    ----------
    features : {"last", "all", "pooled"} or int
        See :data:`FEATURE_SETS`; an int ``k`` is the number of sample ends, ``1 <= k <= n_samples``.
    n_samples : int, optional
        Samples per series, the upper bound of ``k`` (unchecked when None).
    """
    if isinstance(features, str):
        check_choice("features", features, FEATURE_SETS)
        return features
    if isinstance(features, (bool, np.bool_)) or not isinstance(features, Integral):
        raise ModelValidationError(
            f"features must be one of {', '.join(repr(f) for f in FEATURE_SETS)} or an int number of "
            f"sample ends >= 1, got {features!r}"
        )
    k = int(features)
    high = "" if n_samples is None else f" and <= the series length {n_samples}"
    if k < 1 or (n_samples is not None and k > n_samples):
        raise ModelValidationError(f"features (sample ends) must be >= 1{high}, got {k}")
    return k


def check_alphas(alphas: Any) -> np.ndarray:
    """Validate a ridge grid: a non-empty 1-D sequence of finite values > 0; return it as floats."""
    try:
        a = np.asarray(alphas, dtype=float)
    except (TypeError, ValueError):
        raise ModelValidationError(f"alphas must be a sequence of numbers > 0, got {alphas!r}") from None
    if a.ndim != 1 or a.size == 0:
        raise ModelValidationError(f"alphas must be a non-empty 1-D sequence of numbers > 0, got {alphas!r}")
    bad = a[~(np.isfinite(a) & (a > 0))]
    if bad.size:
        raise ModelValidationError(
            f"alphas must all be finite and > 0, got {float(bad[0])!r} in {a.tolist()}"
        )
    return a


def _valid_alphas(alphas: Any) -> bool:
    try:
        check_alphas(alphas)
    except ModelValidationError:
        return False
    return True


#: Constraints of the readout parameters (:data:`READOUT_PARAMS`) of every reservoir estimator
#: (:class:`~nwmodel._estimator.ValidatedEstimator`). An int ``features`` is also checked against
#: the series length in ``fit`` (:func:`check_feature_set`).
READOUT_CONSTRAINTS: dict[str, list[Any]] = {
    "features": [choice(*FEATURE_SETS), number(Integral, 1, None, "left")],
    "ridge_alpha": [number(Real, 0.0, None, "left"), choice("loo")],
    "alphas": [satisfies(_valid_alphas, "a non-empty 1-D sequence of finite numbers > 0")],
    "standardize": ["boolean"],
}


def sample_ends(n_samples: int, k: int) -> np.ndarray:
    """Indices of ``k`` equally spaced sample ends of a ``n_samples`` series, the last included.

    The ends of samples ``ceil(j n_samples / k)`` for ``j = 1 .. k``, as 0-based indices: strictly
    increasing for ``1 <= k <= n_samples``; ``k = 1`` is the last sample.

    Returns
    -------
    ndarray of int, shape (k,)
    """
    n = check_int("n_samples", n_samples, low=1)
    k = check_feature_set(k, n)
    if not isinstance(k, int):
        raise ModelValidationError(f"k must be an int number of sample ends, got {k!r}")
    j = np.arange(1, k + 1)
    return (-(-j * n // k) - 1).astype(int)


def trajectory_features(trajectory: np.ndarray, features: str | int) -> np.ndarray:
    """Readout features of reservoir trajectories.

    Parameters
    ----------
    trajectory : ndarray, shape (n_cases, n_samples, n_per_sample)
        One row per input sample (a state, or a sample's readings in virtual-node order).
    features : {"last", "all", "pooled"} or int
        The feature set (module table).

    Returns
    -------
    ndarray, shape (n_cases, n_out)
        ``n_out`` is ``n_per_sample`` times 1 (``"last"``), ``k``, ``n_samples`` (``"all"``) or 3
        (``"pooled"``: last, mean, std); sample-major, each sample's row in its own order.
    """
    T = np.asarray(trajectory)
    if T.ndim != 3 or min(T.shape) < 1:
        raise ModelValidationError(
            "trajectory must have shape (n_cases, n_samples, n_per_sample) with every size >= 1, "
            f"got {T.shape}"
        )
    f = check_feature_set(features, T.shape[1])
    n = T.shape[0]
    if f == "last":
        return T[:, -1, :]
    if f == "all":
        return T.reshape(n, -1)
    if f == "pooled":
        return np.concatenate([T[:, -1, :], T.mean(axis=1), T.std(axis=1)], axis=1)
    return T[:, sample_ends(T.shape[1], int(f)), :].reshape(n, -1)


class RidgeReadout(ValidatedEstimator):
    """Ridge readout shared by every reservoir: scikit-learn's ridge on (standardised) features.

    Parameters
    ----------
    task : {"classification", "regression"}
        Kind of target: ``RidgeClassifier`` (one-vs-all on +-1 targets) or ``Ridge``.
    alpha : float or "loo"
        Ridge regularisation strength >= 0 (published default 1), or ``"loo"``: the value of
        ``alphas`` with the smallest efficient leave-one-out squared error on the training
        features (``RidgeClassifierCV`` / ``RidgeCV`` with ``cv=None``; a classifier scores the
        +-1 indicator targets). Only the training data is used.
    alphas : sequence of float
        Grid of ``alpha="loo"``, every value finite and > 0 (default :data:`RIDGE_ALPHAS`).
    standardize : bool
        Z-score each feature with its training mean and population standard deviation (a
        feature constant up to rounding is centred only; :func:`standardization`) before the
        ridge.

    Attributes
    ----------
    model_ : RidgeClassifier, Ridge, RidgeClassifierCV or RidgeCV
        The fitted scikit-learn model.
    alpha_ : float or ndarray of shape (n_targets,)
        The strength used (the chosen one for ``alpha="loo"``; a regression on several targets
        chooses one per target).
    feature_mean_, feature_scale_ : ndarray of shape (n_features,)
        Standardisation (zeros and ones when ``standardize`` is False).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "task": [choice("classification", "regression")],
        "alpha": READOUT_CONSTRAINTS["ridge_alpha"],
        "alphas": READOUT_CONSTRAINTS["alphas"],
        "standardize": READOUT_CONSTRAINTS["standardize"],
    }

    def __init__(
        self,
        task: Literal["classification", "regression"] = "classification",
        alpha: float | Literal["loo"] = 1.0,
        alphas: Sequence[float] = RIDGE_ALPHAS,
        standardize: bool = False,
    ):
        self.task = task
        self.alpha = alpha
        self.alphas = alphas
        self.standardize = standardize

    def fit(self, features: np.ndarray, y: np.ndarray) -> RidgeReadout:
        """Fit on ``features`` of shape (n_cases, n_features) and targets ``y`` of shape (n_cases,...)."""
        self._validate_params()
        loo = isinstance(self.alpha, str)
        features = _check_features(features)
        if len(y) != features.shape[0]:
            raise ModelValidationError(f"y must have one target per case ({features.shape[0]}), got {len(y)}")
        n = features.shape[1]
        if self.standardize:
            self.feature_mean_, self.feature_scale_ = standardization(features)
            features = (features - self.feature_mean_) / self.feature_scale_
        else:
            self.feature_mean_, self.feature_scale_ = np.zeros(n), np.ones(n)
        if loo:
            alphas = check_alphas(self.alphas)
            if self.task == "classification":
                self.model_ = RidgeClassifierCV(alphas=alphas).fit(features, y)
            else:  # several targets (e.g. one per delay) each get their own strength
                self.model_ = RidgeCV(alphas=alphas, alpha_per_target=True).fit(features, y)
            a = np.asarray(self.model_.alpha_, dtype=float)
            self.alpha_ = float(a) if a.ndim == 0 else a
        else:
            cls = RidgeClassifier if self.task == "classification" else Ridge
            self.model_ = cls(alpha=float(self.alpha)).fit(features, y)
            self.alpha_ = float(self.alpha)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted labels or values for ``features`` of shape (n_cases, n_features)."""
        check_is_fitted(self, "model_")
        f = _check_features(features)
        if self.standardize:
            f = (f - self.feature_mean_) / self.feature_scale_
        return self.model_.predict(f)


def standardization(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training mean and scale of each feature column for z-scoring.

    The scale is the population standard deviation, or 1 for a feature that is constant up to
    rounding (variance ``var <= n eps var + (n eps |mean|)**2``, the bound scikit-learn's
    ``StandardScaler`` uses): dividing rounding noise by its own tiny spread would turn it into
    features of order one on the training data and of order 1e3 on new data.

    Parameters
    ----------
    features : ndarray, shape (n_cases, n_features)

    Returns
    -------
    mean, scale : ndarray, shape (n_features,)
    """
    mean = features.mean(axis=0)
    std = features.std(axis=0)
    n, eps = features.shape[0], np.finfo(np.float64).eps
    var = std**2
    constant = var <= n * eps * var + (n * eps * mean) ** 2
    return mean, np.where(constant, 1.0, std)


def reservoir_key(estimator: Any) -> tuple[Any, ...]:
    """The parameters of ``estimator`` that fix its reservoir run: all but :data:`READOUT_PARAMS`.

    A ``random_state`` that is not an int (a Generator is consumed by a fit) makes the key unique.
    """
    params = estimator.get_params(deep=False)
    seed = params.pop("random_state", None)
    for name in (*READOUT_PARAMS, "n_features"):
        params.pop(name, None)
    if seed is not None and not isinstance(seed, (int, np.integer)):
        return (type(estimator).__name__, id(estimator))
    return (type(estimator).__name__, repr(sorted(params.items())), seed)


def fit_readouts(estimators: Sequence[Any], X: Any, y: Any) -> list[str]:
    """Fit reservoir estimators of one ``reservoir_key()`` on ``(X, y)`` from one reservoir run.

    The first estimator prepares the reservoir (weights, or calibration and input encoding) and
    runs it once; the others adopt it and fit their readouts on their own feature sets of that
    trajectory. Each ends as if fitted alone.

    Parameters
    ----------
    estimators : sequence of reservoir estimators
        :class:`nwmodel.NWESNClassifier`, :class:`nwmodel.ESNClassifier`,
        :class:`nwmodel.physical.reservoir.PhysicalReservoirClassifier` or their regressors, all of one
        ``reservoir_key()``.
    X : array of shape (n_cases, n_channels, n_timepoints)
    y : array of shape (n_cases,)

    Returns
    -------
    list of str
        An empty string per estimator (the convention of :func:`nwmodel.models.rnn.fit_stacked`).
    """
    first = estimators[0]
    key = first.reservoir_key()
    if any(e.reservoir_key() != key for e in estimators[1:]):
        raise ModelValidationError("fit_readouts needs estimators that differ in their readout only")
    Xv, yv = first._prepare(X, y)
    for e in estimators[1:]:
        e._adopt(first, Xv, yv)
    feats = first._feature_sets(Xv, [e.features for e in estimators])
    for e, F in zip(estimators, feats, strict=True):
        e._fit_readout(F, yv)
    return [""] * len(estimators)


def predict_readouts(estimators: Sequence[Any], X: Any) -> list[np.ndarray]:
    """Predictions of fitted estimators of one ``reservoir_key()``, from one reservoir run."""
    first = estimators[0]
    Xv = first._check_input(X)
    feats = first._feature_sets(Xv, [e.features for e in estimators])
    return [e._predict_features(F) for e, F in zip(estimators, feats, strict=True)]


def _check_features(features: np.ndarray) -> np.ndarray:
    f = np.asarray(features, dtype=float)
    if f.ndim != 2:
        raise ModelValidationError(f"features must have shape (n_cases, n_features), got {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ModelValidationError("features must be finite, got NaN or inf")
    return f


def memory_capacity(
    states: np.ndarray,
    inputs: np.ndarray,
    *,
    max_delay: int,
    washout: int = 100,
    train_fraction: float = 0.5,
    alpha: float = 1e-8,
) -> tuple[float, np.ndarray]:
    """Short-term memory capacity (Jaeger 2001) of a state trajectory driven by ``inputs``.

    For each delay ``k = 1 .. max_delay`` a ridge readout trained on the first part of the
    trajectory reconstructs ``u(t - k)`` from ``h(t)``; on the rest, ``MC_k`` is the squared
    correlation of reconstruction and target; ``MC = sum_k MC_k`` (at most ``N`` for i.i.d. input).

    Parameters
    ----------
    states : ndarray of shape (n_timepoints, n_units)
        Reservoir states h(t) driven by ``inputs``.
    inputs : ndarray of shape (n_timepoints,)
        The scalar input u(t).
    max_delay : int
        Largest delay, >= 1.
    washout : int
        Initial steps dropped, >= max_delay.
    train_fraction : float
        Fraction of the remaining steps used to train the readouts, in (0, 1).
    alpha : float
        Ridge strength of the readouts, >= 0.

    Returns
    -------
    mc : float
        Total memory capacity.
    mc_k : ndarray of shape (max_delay,)
        Capacity per delay.
    """
    states = np.asarray(states, dtype=float)
    inputs = np.asarray(inputs, dtype=float)
    if states.ndim != 2 or inputs.shape != (states.shape[0],):
        raise ModelValidationError(
            f"states must be (n_timepoints, n_units) and inputs (n_timepoints,), got {states.shape}"
            f" and {inputs.shape}"
        )
    k_max = check_int("max_delay", max_delay, low=1)
    wash = check_int("washout", washout, low=k_max, high=states.shape[0] - 4)
    frac = check_real("train_fraction", train_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    H = states[wash:]
    targets = np.stack([inputs[wash - k : len(inputs) - k] for k in range(1, k_max + 1)], axis=1)
    n_train = int(frac * len(H))
    model = Ridge(alpha=check_real("alpha", alpha, low=0.0)).fit(H[:n_train], targets[:n_train])
    pred = model.predict(H[n_train:])
    tgt = targets[n_train:]
    mc_k = np.array([np.corrcoef(pred[:, k], tgt[:, k])[0, 1] ** 2 for k in range(k_max)])
    return float(mc_k.sum()), mc_k
