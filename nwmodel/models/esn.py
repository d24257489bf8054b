"""Reservoir estimators: NW-ESN (nanowire cell) and ESN (leaky tanh), classifier and regressor.

scikit-learn estimators: ``__init__`` only stores its keyword-only arguments, ``fit`` validates
them against the declared ``_parameter_constraints`` (messages name the parameter, the range and
the value; :class:`~nwmodel.errors.ModelValidationError`), draws the reservoir weights from
``random_state``, runs every training series through the reservoir at once and fits a ridge
readout (:mod:`nwmodel.models.readout`) on features of the state trajectories. ``X`` is in aeon layout
``(n_cases, n_channels, n_timepoints)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any, ClassVar, Literal

import numpy as np
from sklearn.utils.validation import check_is_fitted

from nwmodel._estimator import (
    NW_CELL_CONSTRAINTS,
    ClassifierTask,
    NWCellMixin,
    RecurrentEstimator,
    RegressorTask,
    check_X,
    check_y,
    choice,
    init_params,
    number,
)
from nwmodel.models.kernels import ESNCellParams, ReservoirWeights, run_reservoir
from nwmodel.models.readout import (
    READOUT_CONSTRAINTS,
    RIDGE_ALPHAS,
    RidgeReadout,
    check_feature_set,
    reservoir_key,
    trajectory_features,
)

__all__ = [
    "ESNClassifier",
    "ESNRegressor",
    "NWESNClassifier",
    "NWESNRegressor",
    "check_X",
    "check_y",
]


#: Largest trajectory (n_cases x n_timepoints x n_units float64 values, in bytes) run at once: a
#: longer one is run in chunks of cases.
TRAJECTORY_CHUNK_BYTES = 512 * 2**20


@init_params
class _ReservoirEstimator(RecurrentEstimator):
    """Shared machinery and parameters of the reservoir estimators (not public)."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **RecurrentEstimator._parameter_constraints,
        **READOUT_CONSTRAINTS,
        "exact_spectral_radius": ["boolean"],
        "backend": [choice("numpy", "torch")],
    }

    features: str | int = "pooled"
    ridge_alpha: float | Literal["loo"] = "loo"
    alphas: Sequence[float] = RIDGE_ALPHAS
    standardize: bool = True
    exact_spectral_radius: bool = False
    backend: Literal["numpy", "torch"] = "numpy"
    dtype: Literal["float64", "float32"] = "float64"

    def _run(self, X: np.ndarray, sequences: bool) -> np.ndarray:
        return run_reservoir(
            X,
            self.weights_,
            self._cell,  # type: ignore[arg-type]
            self.cell_params_,
            backend=self.backend,
            dtype=self.dtype,
            device=self.device,
            return_sequences=sequences,
        ).astype(float, copy=False)

    def _feature_sets(self, X: np.ndarray, feature_sets: Sequence[str | int]) -> list[np.ndarray]:
        """Readout features of ``X`` for each of ``feature_sets`` from one reservoir run.

        ``["last"]`` alone runs the last-state kernel; anything else keeps the whole trajectory,
        in chunks of cases of at most :data:`TRAJECTORY_CHUNK_BYTES`.
        """
        for f in feature_sets:
            check_feature_set(f, X.shape[2])
        if list(feature_sets) == ["last"]:
            return [self._run(X, sequences=False)]
        per_case = X.shape[2] * int(self.n_units) * 8
        step = max(1, TRAJECTORY_CHUNK_BYTES // per_case)
        parts: list[list[np.ndarray]] = [[] for _ in feature_sets]
        for i in range(0, X.shape[0], step):
            traj = self._run(X[i : i + step], sequences=True)
            for part, f in zip(parts, feature_sets, strict=True):
                part.append(trajectory_features(traj, f))
        return [np.concatenate(p, axis=0) for p in parts]

    def _readout(self) -> RidgeReadout:
        return RidgeReadout(
            task=self._task,  # type: ignore[arg-type]
            alpha=self.ridge_alpha,
            alphas=self.alphas,
            standardize=self.standardize,
        )

    def _prepare(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Validate, draw the reservoir; return the validated ``(X, y)``."""
        cell_params, X, y = self._validate_fit_inputs(X, y)
        check_feature_set(self.features, X.shape[2])
        self.n_channels_ = X.shape[1]
        self.cell_params_ = cell_params
        self.weights_: ReservoirWeights = self._init_weights(
            self.n_channels_, self.random_state, exact_spectral_radius=self.exact_spectral_radius
        )
        return X, y

    def _adopt(self, first: _ReservoirEstimator, X: np.ndarray, y: np.ndarray) -> None:
        """Take the reservoir of ``first`` (same :meth:`reservoir_key`: the same draw) unredrawn."""
        self._validate_params()
        check_feature_set(self.features, X.shape[2])
        self.n_channels_ = first.n_channels_
        self.cell_params_ = first.cell_params_
        self.weights_ = first.weights_

    def _check_input(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "weights_")
        return check_X(X, self.n_channels_)

    def _fit_readout(self, features: np.ndarray, y: np.ndarray) -> None:
        self.readout_ = self._readout().fit(features, y)
        if self._task == "classification":
            self.classes_ = self.readout_.model_.classes_

    def _predict_features(self, features: np.ndarray) -> np.ndarray:
        return self.readout_.predict(features)

    def reservoir_key(self) -> tuple[Any, ...]:
        """What fixes the reservoir run: estimators with equal keys differ in their readout only.

        Estimators of one key share a reservoir run in :func:`nwmodel.models.readout.fit_readouts`
        (used by :func:`nwmodel.select_and_test`).
        """
        return reservoir_key(self)

    def fit(self, X: Any, y: Any) -> _ReservoirEstimator:
        """Draw the reservoir, collect the readout features of ``X`` and fit the ridge readout.

        Parameters
        ----------
        X : array of shape (n_cases, n_channels, n_timepoints)
            Training series.
        y : array of shape (n_cases,)
            Labels (classifier) or targets (regressor).
        """
        X, y = self._prepare(X, y)
        self._fit_readout(self._feature_sets(X, [self.features])[0], y)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Readout features (before standardisation) of the series in ``X``.

        Returns
        -------
        ndarray of shape (n_cases, n_features)
            ``n_units`` values times 1, ``k``, ``n_timepoints`` or 3 per the ``features`` set.
        """
        return self._feature_sets(self._check_input(X), [self.features])[0]

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels or targets, shape (n_cases,), of the series in ``X``."""
        return self.readout_.predict(self.transform(X))


@init_params
class _NWESNBase(NWCellMixin, _ReservoirEstimator):
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_ReservoirEstimator._parameter_constraints,
        **NW_CELL_CONSTRAINTS,
    }


_NW_DOC = """{kind} over a Nanowire Echo State Network (NW-ESN) reservoir.

    State update (``h0 = 0``): ``z = 0.35 + 0.8 sigmoid(slope (W_h h + W_x x + b))``,
    ``h <- dt (Kp(z) - (Kp(z) + Kd(z)) h) + gamma h`` with ``Kp = kp0 exp(eta_p z)``,
    ``Kd = kd0 exp(-eta_d z)``; features of the state trajectory (``features``) feed a ridge
    readout. The defaults are the ``tuned`` protocol's readout (:mod:`nwmodel.selection.protocols`); the
    published one is ``features="last", ridge_alpha=1.0, standardize=False``.

    Parameters
    ----------
    n_units : int
        Reservoir size N >= 1.
    input_scaling : float
        omega >= 0: ``W_x`` uniform in ``+-omega``.
    bias_scaling : float
        beta >= 0: ``b`` uniform in ``+-beta``.
    spectral_radius : float
        rho >= 0: ``W_h`` uniform with std ``rho / sqrt(N)``.
    gamma : float
        State retention in [0, 1].
    slope : float
        Slope s > 0 of RESCALE.
    dt : float
        Discretisation step > 0.
    kp0, kd0, eta_p, eta_d : float
        Nanowire rate constants > 0; defaults :data:`~nwphys.junctions.KP0_PER_S` (1e-4 1/s),
        :data:`~nwphys.junctions.KD0_PER_S` (0.5 1/s), :data:`~nwphys.junctions.ETA_P_PER_V`
        (10 1/V), :data:`~nwphys.junctions.ETA_D_PER_V` (1 1/V) (Table 2).
    features : {{"last", "all", "pooled"}} or int
        Readout features (:mod:`nwmodel.models.readout`): the last state (the published readout), the
        states at ``k`` equally spaced sample ends (int ``k``, last included, ``k <= n_timepoints``),
        every state, or ``"pooled"`` (default: last state, mean and std over the series).
    ridge_alpha : float or "loo"
        Ridge strength of the readout >= 0 (published: 1), or ``"loo"`` (default): chosen from
        ``alphas`` by efficient leave-one-out on the training data.
    alphas : sequence of float
        Grid of ``ridge_alpha="loo"``, each > 0 (default :data:`nwmodel.models.readout.RIDGE_ALPHAS`).
    standardize : bool
        Z-score the features with the training mean and std before the ridge (default True;
        the published protocol: False).
    exact_spectral_radius : bool
        Rescale ``W_h`` to exactly ``rho``.
    backend : {{"numpy", "torch"}}
        State kernel.
    dtype : {{"float64", "float32"}}
        Kernel precision.
    device : str
        Torch device when ``backend="torch"`` ("cpu", "cuda").
    random_state : int, Generator or None
        Seed of the reservoir weights.

    Attributes
    ----------
    weights_ : ReservoirWeights
        The drawn reservoir.
    cell_params_ : NWCellParams
        Validated cell hyperparameters.
    readout_ : RidgeReadout
        The fitted readout.
    n_channels_ : int
        Input channels seen in fit.
    """


class NWESNClassifier(ClassifierTask, _NWESNBase):
    __doc__ = _NW_DOC.format(kind="Classifier")


class NWESNRegressor(RegressorTask, _NWESNBase):
    __doc__ = _NW_DOC.format(kind="Regressor")


@init_params
class _ESNBase(_ReservoirEstimator):
    _cell: ClassVar[str] = "esn"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_ReservoirEstimator._parameter_constraints,
        "leak_rate": [number(Real, 0.0, 1.0, "right")],
    }

    leak_rate: float = 0.3

    def _cell_params(self) -> ESNCellParams:
        return ESNCellParams(leak_rate=self.leak_rate)


_ESN_DOC = """{kind} over a leaky Echo State Network (ESN) reservoir.

    State update (``h0 = 0``): ``h <- (1 - leak_rate) h + leak_rate tanh(W_h h + W_x x + b)``;
    the last state feeds a ridge readout. Initialisation as :class:`NWESNClassifier`.

    Parameters
    ----------
    n_units, input_scaling, bias_scaling, spectral_radius : see :class:`NWESNClassifier`.
    leak_rate : float
        Leaking rate alpha in (0, 1].
    features, ridge_alpha, alphas, standardize, exact_spectral_radius, backend, dtype, device,
    random_state :
        see :class:`NWESNClassifier`.

    Attributes
    ----------
    weights_, cell_params_ (ESNCellParams), readout_, n_channels_ : as :class:`NWESNClassifier`.
    """


class ESNClassifier(ClassifierTask, _ESNBase):
    __doc__ = _ESN_DOC.format(kind="Classifier")


class ESNRegressor(RegressorTask, _ESNBase):
    __doc__ = _ESN_DOC.format(kind="Regressor")
