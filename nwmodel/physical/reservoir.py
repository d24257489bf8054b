"""The NW-ESN on a physical network: reservoir estimators over any :class:`hardware.Device`.

A :class:`PhysicalReservoirClassifier` / :class:`PhysicalReservoirRegressor` drives the input
electrodes of a device with an encoded time series and reads it at every sample; the readout
layer of :mod:`nwmodel.models.readout` (the same feature sets and :class:`~nwmodel.RidgeReadout`
as the abstract NW-ESN) turns the readings into features, so the two are compared under one
protocol (:mod:`nwmodel.selection.protocols`, :func:`nwmodel.select_and_test`).

Per series (the defaults mirror the abstract model, see :mod:`nwmodel.physical.mapping`):

1. **Reset** the device (``reset="restore"``: ``device.reset()``; ``"relax"``: hold every input
   at 0 V for ``relax_s``; ``"none"``: carry the state over).
2. **Encode** sample ``t`` and virtual node ``k`` as
   ``V[t, k] = v_bias_V + v_scale_V * sigmoid(slope * (mask[k] * (W_in x[t]) + b))`` with
   ``W_in`` uniform in ``+-input_scaling`` and ``b`` uniform in ``+-bias_scaling``;
   ``mask`` (uniform in ``+-1``) exists only with ``n_virtual > 1`` (time multiplexing:
   each sample period ``dt_s`` is split into ``n_virtual`` sub-steps). ``W_in``, ``b``, ``mask``
   and the feature subset of step 4 each draw from their own child stream of ``random_state``
   (``Generator.spawn``), so changing one (e.g. ``n_virtual``) leaves the others as they are.
3. **Apply** the whole sequence in one ``device.apply(V, dt_s / n_virtual)`` call.
4. **Read** what a bench measures (``readout="electrodes"``): the output-electrode voltages and
   the input- and ground-electrode currents at the end of each of the ``n_virtual`` sub-steps of
   every sample (simulation-only oracle readouts: ``"oracle"`` adds probed internal node voltages,
   ``"conductances"`` the junction states after the series); build the ``features`` set of
   them, keep ``n_features`` (None: all), standardise with the training mean/std, fit the ridge
   readout (fixed ``ridge_alpha`` or leave-one-out). With ``n_presentations = K`` steps 2-4 run
   K times with independent encodings and the features are concatenated.

Before step 1 of the fit, ``calibration`` maps the window ``(v_bias_V, v_bias_V + v_scale_V)``,
which then describes **junction** voltages as in the abstract model, to electrode volts through a
short sweep on the device (:mod:`nwmodel.physical.calibration`); ``calibration="off"`` applies the window
at the electrodes.

The device is either a :class:`hardware.Device` (used as is, serially; the caller owns and
closes it) or a **factory**: a picklable zero-argument callable returning a fresh device, such as
:class:`SimulatedDeviceSpec`. A fit drives its first presentation on the factory's device it was
prepared on (electrode names, calibration), unless it measured its calibration there (the sweeps
drove that device: the series start on a new one, as with a given calibration); each further
presentation starts on a new device. With a factory and ``n_jobs > 1`` the independent series are
split in chunks, each run in its own process on its own device (requires ``reset="restore"`` so
that a series never depends on the one before it; results equal a serial run exactly).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from numbers import Integral, Real
from typing import Any, ClassVar, Literal

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from nwmodel._checks import make_rng
from nwmodel._estimator import RANDOM_STATE_CONSTRAINT, ValidatedEstimator, choice, number, satisfies
from nwmodel.errors import ModelValidationError
from nwmodel.models.readout import (
    READOUT_CONSTRAINTS,
    RIDGE_ALPHAS,
    RidgeReadout,
    check_feature_set,
    reservoir_key,
    standardization,
    trajectory_features,
)
from nwmodel.physical._drive import Encoding, draw_encoding
from nwmodel.physical._feature_store import cached_features, store_applies
from nwmodel.physical._readout import (
    READOUTS,
    check_series,
    closing,
    electrode_readings,
    is_device,
    physical_features,
    physical_trajectories,
    run_chunk,
)
from nwmodel.physical._spec import SimulatedDeviceSpec
from nwmodel.physical.calibration import DriveCalibration, calibrate_drive
from nwmodel.physical.mapping import DEFAULT_ENCODING

__all__ = [
    "READOUTS",
    "PhysicalReservoirClassifier",
    "PhysicalReservoirRegressor",
    "SimulatedDeviceSpec",
    "electrode_readings",
    "physical_features",
    "physical_trajectories",
]

DeviceLike = Any  # hardware.Device or a zero-argument factory returning one


#: Largest raw trajectory (n_cases x n_timepoints x n_virtual x n_read float64 values, per
#: presentation, in bytes) that a fit or transform holds; a larger one is refused before the
#: device is driven.
MAX_TRAJECTORY_BYTES = 4 * 2**30


class _PhysicalReservoirBase(ValidatedEstimator):
    """Shared implementation; see :class:`PhysicalReservoirClassifier` for the parameters."""

    _task: str = "classification"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "device": [
            satisfies(is_device, "a hardware.Device"),
            satisfies(callable, "a zero-argument factory (callable) returning one"),
        ],
        "n_features": [None, number(Integral, 1, None, "left")],
        "v_scale_V": [number(Real, 0.0, None, "neither")],
        "v_bias_V": [number(Real, None, None, "neither")],
        "dt_s": [number(Real, 0.0, None, "neither")],
        "slope": [number(Real, 0.0, None, "neither")],
        "input_scaling": [number(Real, 0.0, None, "left")],
        "bias_scaling": [number(Real, 0.0, None, "left")],
        "n_virtual": [number(Integral, 1, None, "left")],
        "n_presentations": [number(Integral, 1, None, "left")],
        "readout": [choice(*READOUTS)],
        **READOUT_CONSTRAINTS,
        "calibration": [choice("auto", "junction", "response", "off"), DriveCalibration],
        "reset": [choice("restore", "relax", "none")],
        "relax_s": [number(Real, 0.0, None, "left")],
        "n_jobs": [number(Integral, 1, None, "left")],
        "feature_store": [None, str, os.PathLike],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    def __init__(
        self,
        device: DeviceLike = None,
        *,
        n_features: int | None = None,
        v_scale_V: float = DEFAULT_ENCODING["v_scale_V"],
        v_bias_V: float = DEFAULT_ENCODING["v_bias_V"],
        dt_s: float = DEFAULT_ENCODING["dt_s"],
        slope: float = DEFAULT_ENCODING["slope"],
        input_scaling: float = DEFAULT_ENCODING["input_scaling"],
        bias_scaling: float = DEFAULT_ENCODING["bias_scaling"],
        n_virtual: int = 1,
        n_presentations: int = 1,
        readout: Literal["electrodes", "oracle", "conductances"] = "electrodes",
        features: str | int = "pooled",
        calibration: Any = "auto",
        reset: Literal["restore", "relax", "none"] = "restore",
        relax_s: float = 1.0,
        standardize: bool = True,
        ridge_alpha: float | Literal["loo"] = "loo",
        alphas: Sequence[float] = RIDGE_ALPHAS,
        n_jobs: int = 1,
        feature_store: str | os.PathLike[str] | None = None,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.device = device
        self.n_features = n_features
        self.v_scale_V = v_scale_V
        self.v_bias_V = v_bias_V
        self.dt_s = dt_s
        self.slope = slope
        self.input_scaling = input_scaling
        self.bias_scaling = bias_scaling
        self.n_virtual = n_virtual
        self.n_presentations = n_presentations
        self.readout = readout
        self.features = features
        self.calibration = calibration
        self.reset = reset
        self.relax_s = relax_s
        self.standardize = standardize
        self.ridge_alpha = ridge_alpha
        self.alphas = alphas
        self.n_jobs = n_jobs
        self.feature_store = feature_store
        self.random_state = random_state

    # -- validation and set-up ------------------------------------------------------------

    def _check_parameter_combinations(self) -> None:
        if self.readout == "conductances" and self.features != "last":
            raise ModelValidationError(
                "features must be 'last' with readout='conductances' (the junction states are read "
                f"once, after the series), got {self.features!r}"
            )
        if self.n_jobs > 1 and self.reset != "restore":
            raise ModelValidationError(
                "n_jobs > 1 needs reset='restore' (series must not depend on each other), "
                f"got reset={self.reset!r}"
            )
        if isinstance(self.calibration, str) and self.calibration != "off" and self.v_bias_V <= 0:
            raise ModelValidationError(
                f"v_bias_V must be in (0.0, inf) with calibration={self.calibration!r} (the window is "
                f"one of junction voltages), got {self.v_bias_V!r}"
            )

    def _open(self) -> tuple[Any, bool]:
        """Return ``(device, owned)``: a factory is called (and the device closed by us)."""
        if is_device(self.device):
            return self.device, False
        return self.device(), True

    def _series_device(self) -> tuple[Any, bool]:
        """``(device, owned)`` for a drive: the factory device the fit's :meth:`_prepare` opened and
        left undriven (so that a fit opens its factory once), else :meth:`_open`."""
        held = self.__dict__.pop("_undriven_device", None)
        return (held, True) if held is not None else self._open()

    def _release_undriven(self, cause: BaseException | None = None) -> None:
        """Close the factory device :meth:`_prepare` kept for the series, when no drive took it
        (``cause``: the error that is leaving; a failure to close is then noted on it, not raised)."""
        held = self.__dict__.pop("_undriven_device", None)
        if held is None:
            return
        if cause is not None and hasattr(held, "__exit__"):
            held.__exit__(type(cause), cause, cause.__traceback__)
        else:
            held.close()

    def _trajectory(self, X: np.ndarray) -> np.ndarray:
        """Raw trajectories of ``X`` under every presentation, concatenated per sample.

        Returns
        -------
        ndarray, shape (n_cases, n_timepoints, n_presentations * n_virtual * n_read)
            (n_cases, 1, n_presentations * n_junctions) for ``readout="conductances"``.
        """
        return np.concatenate([self._presentation(X, enc) for enc in self.encodings_], axis=2)

    def _presentation(self, X: np.ndarray, enc: Encoding) -> np.ndarray:
        """Raw trajectories of one presentation: from the feature store where it applies, else driven."""
        if self.feature_store is not None and store_applies(self.device, enc):
            return cached_features(self.feature_store, self.device, enc, X, lambda Xm: self._drive(Xm, enc))
        return self._drive(X, enc)

    def _drive(self, X: np.ndarray, enc: Encoding) -> np.ndarray:
        n_jobs = int(self.n_jobs)
        if n_jobs > 1 and not is_device(self.device) and X.shape[0] > 1:
            chunks = np.array_split(X, min(n_jobs, X.shape[0]))
            with ProcessPoolExecutor(max_workers=len(chunks)) as pool:
                parts = list(pool.map(run_chunk, [self.device] * len(chunks), [enc] * len(chunks), chunks))
            return np.concatenate(parts, axis=0)
        device, owned = self._series_device()
        with closing(device) if owned else contextlib.nullcontext():
            return physical_trajectories(device, enc, X)

    def _calibrate(self, device: Any) -> DriveCalibration | None:
        """The drive calibration of this fit (None: the window is in electrode volts)."""
        if isinstance(self.calibration, DriveCalibration):
            return self.calibration
        if self.calibration == "off":
            return None
        lo = float(self.v_bias_V)
        return calibrate_drive(
            device, rule=self.calibration, junction_window_V=(lo, lo + float(self.v_scale_V))
        )

    def _check_size(self, X: np.ndarray, n_read: int) -> None:
        """Refuse a trajectory larger than :data:`MAX_TRAJECTORY_BYTES` before driving anything."""
        n_rows = 1 if self.readout == "conductances" else X.shape[2] * int(self.n_virtual)
        need = X.shape[0] * n_rows * n_read * 8
        if need > MAX_TRAJECTORY_BYTES:
            raise ModelValidationError(
                f"X: the raw trajectories of {X.shape[0]} series x {n_rows} readings x {n_read} values "
                f"need {need / 2**30:.1f} GiB per presentation, above the "
                f"{MAX_TRAJECTORY_BYTES / 2**30:.0f} GiB limit (physical.MAX_TRAJECTORY_BYTES); "
                "transform fewer series at a time or lower n_virtual"
            )

    # -- the readout layer's protocol (nwmodel.models.readout.fit_readouts) --------------------------

    def reservoir_key(self) -> tuple[Any, ...]:
        """What fixes the device's readings: estimators with equal keys differ in their readout only."""
        return reservoir_key(self)

    def _prepare(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Validate, calibrate the drive and draw the encodings; return the validated ``(X, y)``."""
        self._validate_params()
        X = check_series(X)
        check_feature_set(self.features, X.shape[2])
        y = np.asarray(y)
        if y.shape[:1] != (X.shape[0],):
            raise ModelValidationError(
                f"y must have one target per series ({X.shape[0]}), got shape {y.shape}"
            )
        # independent streams: input weights, bias, virtual-node mask, feature subset; then three
        # more (weights, bias, mask) per further presentation
        rng = make_rng(self.random_state)
        w_rng, b_rng, m_rng, f_rng = rng.spawn(4)
        streams = [(w_rng, b_rng, m_rng)] + [
            tuple(rng.spawn(3)) for _ in range(int(self.n_presentations) - 1)
        ]
        self._f_rng = f_rng
        self._release_undriven()
        device, owned = self._open()
        if owned:
            self._undriven_device = device  # for the first drive of the series (_series_device)
        try:
            n_inputs = len(device.input_names)
            if self.readout in ("oracle", "conductances") and not callable(getattr(device, "oracle", None)):
                raise ModelValidationError(
                    f"readout={self.readout!r} is simulation-only: it needs a simulated device with the "
                    f"oracle readout (hardware.SimulatedDevice), got {type(device).__name__}; use "
                    f"readout='electrodes'"
                )
            n_read = len(device.input_names) + len(device.output_names) + len(device.ground_names)
            if self.readout == "oracle":
                probes = getattr(device, "_probe_nodes", None)
                n_read += 0 if probes is None else len(probes)
            elif self.readout == "conductances":
                n_read = int(np.size(device.oracle().state))
            self._check_size(X, n_read)
            self._n_read = n_read
            self.calibration_ = self._calibrate(device)
        except BaseException as exc:
            self._release_undriven(exc)
            raise
        if not (isinstance(self.calibration, DriveCalibration) or self.calibration == "off"):
            # the calibration's sweeps drove it: the series start on a new device, as those of a
            # fit given that calibration do
            self._release_undriven()
        if self.calibration_ is None:
            v_lo, v_hi = float(self.v_bias_V), float(self.v_bias_V) + float(self.v_scale_V)
        else:
            v_lo, v_hi = self.calibration_.electrode_window_V(
                (float(self.v_bias_V), float(self.v_bias_V) + float(self.v_scale_V))
            )
        self.electrode_window_V_ = (v_lo, v_hi)
        n_ch, n_v = X.shape[1], int(self.n_virtual)
        encodings = []
        for stream in streams:
            w_in, bias, mask = draw_encoding(
                stream,  # type: ignore[arg-type]
                n_inputs=n_inputs,
                n_channels=n_ch,
                n_virtual=n_v,
                input_scaling=float(self.input_scaling),
                bias_scaling=float(self.bias_scaling),
            )
            encodings.append(
                Encoding(
                    w_in=w_in,
                    bias=bias,
                    mask=mask,
                    slope=float(self.slope),
                    v_bias_V=v_lo,
                    v_scale_V=v_hi - v_lo,
                    dt_s=float(self.dt_s),
                    reset=str(self.reset),
                    relax_s=float(self.relax_s),
                    readout=str(self.readout),
                )
            )
        self.encodings_ = encodings
        self.encoding_ = encodings[0]
        self.n_channels_ = n_ch
        return X, y

    def _adopt(self, first: _PhysicalReservoirBase, X: np.ndarray, y: np.ndarray) -> None:
        """Take the calibration and encodings of ``first`` (same reservoir key), without measuring."""
        try:
            self._validate_params()
            check_feature_set(self.features, X.shape[2])
        except BaseException as exc:
            first._release_undriven(exc)  # no drive follows
            raise
        self.calibration_ = first.calibration_
        self.electrode_window_V_ = first.electrode_window_V_
        self.encodings_ = first.encodings_
        self._n_read = first._n_read
        self.encoding_ = first.encoding_
        self.n_channels_ = first.n_channels_
        self._f_rng = make_rng(self.random_state).spawn(4)[3]

    def _check_input(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "encodings_")
        X = check_series(X, self.n_channels_)
        self._check_size(X, self._n_read)
        return X

    def _feature_sets(self, X: np.ndarray, feature_sets: Sequence[str | int]) -> list[np.ndarray]:
        """Raw readout features of ``X`` for each of ``feature_sets``, from one drive of the device."""
        try:
            for f in feature_sets:
                check_feature_set(f, X.shape[2])
            traj = self._trajectory(X)
        except BaseException as exc:
            self._release_undriven(exc)
            raise
        self._release_undriven()  # a device no drive took (stored readings, n_jobs > 1)
        return [trajectory_features(traj, f) for f in feature_sets]

    def _fit_readout(self, raw: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Pick the feature subset, standardise and fit the readout; return the readout's input."""
        n_avail = raw.shape[1]
        if self.n_features is None or int(self.n_features) == n_avail:
            self.feature_index_ = np.arange(n_avail)
        elif int(self.n_features) < n_avail:
            pick = self._f_rng.choice(n_avail, size=int(self.n_features), replace=False)
            self.feature_index_ = np.sort(pick)
        else:
            raise ModelValidationError(
                f"n_features must be <= {n_avail} (the readout features of this device, n_virtual "
                f"{int(self.n_virtual)}, n_presentations {int(self.n_presentations)} and features "
                f"{self.features!r}), got {self.n_features}; probe more nodes, raise n_virtual or "
                "pass n_features=None"
            )
        del self._f_rng
        F = raw[:, self.feature_index_]
        if self.standardize:
            self.feature_mean_, self.feature_scale_ = standardization(F)
        else:
            self.feature_mean_ = np.zeros(F.shape[1])
            self.feature_scale_ = np.ones(F.shape[1])
        self.n_features_out_ = F.shape[1]
        F = (F - self.feature_mean_) / self.feature_scale_
        if self._task == "classification":
            self.classes_ = np.unique(y)
        self.readout_ = RidgeReadout(
            task=self._task,  # type: ignore[arg-type]
            alpha=self.ridge_alpha,
            alphas=self.alphas,
            standardize=False,  # done above, with the attributes this estimator has always exposed
        ).fit(F, y)
        return F

    def _standardised(self, raw: np.ndarray) -> np.ndarray:
        return (raw[:, self.feature_index_] - self.feature_mean_) / self.feature_scale_

    def _predict_features(self, raw: np.ndarray) -> np.ndarray:
        return self.readout_.predict(self._standardised(raw))

    # -- public API -------------------------------------------------------------------------

    def transform(self, X: Any) -> np.ndarray:
        """Standardised readout features of every series.

        Parameters
        ----------
        X : array-like, shape (n_cases, n_channels, n_timepoints)

        Returns
        -------
        states : ndarray, shape (n_cases, n_features)
            One row per series, ``n_features_out_`` columns.
        """
        X = self._check_input(X)
        return self._standardised(self._feature_sets(X, [self.features])[0])

    def fit(self, X: Any, y: Any) -> _PhysicalReservoirBase:
        """Drive the device with every training series and fit the ridge readout.

        Parameters
        ----------
        X : array-like, shape (n_cases, n_channels, n_timepoints)
            Input series (aeon layout).
        y : array-like, shape (n_cases,)
            Labels (classifier) or targets (regressor).
        """
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: Any, y: Any) -> np.ndarray:
        """:meth:`fit`, returning the standardised training features (each series driven once).

        Returns
        -------
        states : ndarray, shape (n_cases, n_features)
            One row per series, ``n_features_out_`` columns: what :meth:`transform` would return
            for ``X``, without driving the device again.
        """
        X, y = self._prepare(X, y)
        return self._fit_readout(self._feature_sets(X, [self.features])[0], y)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (classifier) or values (regressor), shape (n_cases,)."""
        check_is_fitted(self, "readout_")
        return self.readout_.predict(self.transform(X))


class PhysicalReservoirClassifier(ClassifierMixin, _PhysicalReservoirBase):
    """NW-ESN classifier whose reservoir is a physical (simulated, emulated or real) network.

    Parameters
    ----------
    device : hardware.Device or callable
        The device, or a picklable zero-argument factory returning one (e.g.
        :class:`SimulatedDeviceSpec`); a factory is needed for ``n_jobs > 1``.
    n_features : int or None
        Number N of readout features: None (default) keeps every feature of the ``features``
        set; an int takes a seeded subset when there are more, an error when there are fewer.
    v_scale_V, v_bias_V : float
        The voltage window ``(v_bias_V, v_bias_V + v_scale_V)`` in volts (default the abstract
        RESCALE window (0.35, 1.15) V); ``v_scale_V > 0``. With a calibration it is the
        **junction** window (``v_bias_V > 0``): the inputs are driven in ``window / gain``
        (``electrode_window_V_``); with ``calibration="off"`` it is applied at the electrodes as
        it is.
    dt_s : float
        Sample period in seconds (the abstract ``dt``), > 0.
    slope, input_scaling, bias_scaling : float
        Sigmoid slope (abstract ``s``), input scaling (``omega``: ``W_in`` uniform in
        +-input_scaling) and bias scaling (``beta``) of the input mask.
    n_virtual : int
        Virtual nodes per sample (time multiplexing), >= 1. The features of ``n_virtual`` 1 are
        converged (within 1e-3 of their spread of a tight reference) for every feature set; with
        ``n_virtual`` 5 only the last sample's are (``tests/nwmodel/test_stiff_reservoir.py``).
    n_presentations : int
        Parallel presentations K >= 1: each series is driven K times, each time with its own
        input weights, bias and mask (independent child streams of ``random_state``; the first
        presentation is the one of K = 1), and the features are concatenated. K times the cost.
    readout : {"electrodes", "oracle", "conductances"}
        ``"electrodes"`` (default, what a bench measures): the output-electrode voltages and the
        input- and ground-electrode currents, read at the end of each of the ``n_virtual``
        sub-steps of every sample (:func:`electrode_readings`). The rest is a simulation-only **oracle**:
        ``"oracle"`` adds the probed internal node voltages (``SimulatedDeviceSpec.n_probe``);
        ``"conductances"`` is the junction states after the series (any number, subset to
        ``n_features``; ``features="last"`` only).
    features : {"last", "all", "pooled"} or int
        Readout features of the readings (:mod:`nwmodel.models.readout`, the same sets as the abstract
        NW-ESN): the last sample's readings (the published readout), those of ``k`` equally
        spaced sample ends (int ``k``, last included), every sample's, or ``"pooled"`` (default:
        last, mean and std over the series). All come from the one measurement of each series.
    calibration : {"auto", "junction", "response", "off"} or DriveCalibration
        How the junction window maps to electrode volts before the fit
        (:func:`nwmodel.physical.calibration.calibrate_drive`: ``"auto"`` uses the junction voltages of a
        simulated device, the measured switching onset otherwise); a :class:`DriveCalibration`
        is used as it is (e.g. one measured on the device an emulator serves); ``"off"``: none.
    reset : {"restore", "relax", "none"}
        Reset policy between series; ``relax`` holds the inputs at 0 V for ``relax_s`` seconds.
    relax_s : float
        Relaxation time in seconds for ``reset="relax"``.
    standardize : bool
        Z-score the features with the training mean/std before the readout.
    ridge_alpha : float or "loo"
        Ridge regularisation of the readout >= 0 (published: 1), or ``"loo"`` (default): chosen
        from ``alphas`` by efficient leave-one-out on the training data.
    alphas : sequence of float
        Grid of ``ridge_alpha="loo"``, each > 0 (default :data:`nwmodel.models.readout.RIDGE_ALPHAS`).
    n_jobs : int
        Worker processes over chunks of series (factory devices only).
    feature_store : path or None
        Directory of stored raw readings (:mod:`nwmodel.physical._feature_store`). With a
        :class:`SimulatedDeviceSpec` device, ``reset="restore"``, no read noise and the
        ``"electrodes"`` or ``"oracle"`` readout, a series already driven under the same device
        recipe and fitted encoding is read from the store instead of integrated again (the
        features are the same bit for bit; the oracle and electrode-only readouts share one
        integration). Ignored otherwise; None (default): always drive the device.
    random_state : int, Generator or None
        Seed of the input weights, bias, virtual-node mask and feature subset; each draws from
        its own child stream (``Generator.spawn``).

    Attributes
    ----------
    encoding_ : input encoding
        The fitted input encoding (the first presentation's).
    encodings_ : list
        One fitted input encoding per presentation.
    feature_index_ : ndarray of int
        The readings the readout keeps (``n_features_out_`` of them).
    readout_ : RidgeReadout
    classes_ : ndarray
    calibration_ : DriveCalibration or None
    electrode_window_V_ : (float, float)
        The electrode voltage window used (V).
    """

    _task = "classification"


class PhysicalReservoirRegressor(RegressorMixin, _PhysicalReservoirBase):
    """NW-ESN regressor whose reservoir is a physical network; parameters as
    :class:`PhysicalReservoirClassifier`."""

    _task = "regression"
