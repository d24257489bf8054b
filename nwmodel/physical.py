"""The NW-ESN on a physical network: reservoir estimators over any :class:`hardware.Device`.

A :class:`PhysicalReservoirClassifier` / :class:`PhysicalReservoirRegressor` drives the input
electrodes of a device with an encoded time series and reads its state at the last sample; the
features go through the same :class:`~nwmodel.readout.RidgeReadout` as the abstract NW-ESN, so
the two are compared under one protocol (:func:`nwmodel.select_and_test`).

Per series (the defaults mirror the abstract model, see :mod:`nwmodel.mapping`):

1. **Reset** the device (``reset="restore"``: ``device.reset()``; ``"relax"``: hold every input
   at 0 V for ``relax_s``; ``"none"``: carry the state over).
2. **Encode** sample ``t`` and virtual node ``k`` as
   ``V[t, k] = v_bias_V + v_scale_V * sigmoid(slope * (mask[k] * (W_in x[t]) + b))`` with
   ``W_in`` uniform in ``+-input_scaling`` and ``b`` uniform in ``+-bias_scaling`` (seeded by
   ``random_state``);
   ``mask`` (uniform in ``+-1``) exists only with ``n_virtual > 1`` (time multiplexing:
   each sample period ``dt_s`` is split into ``n_virtual`` sub-steps).
3. **Apply** the whole sequence in one ``device.apply(V, dt_s / n_virtual)`` call.
4. **Read** the output-electrode voltages (and probed node voltages when the device reports them)
   of the last ``n_virtual`` sub-steps (or, ``features="conductances"``, the junction states of a
   simulated device); keep ``n_features`` of them (a seeded subset when more
   are available), standardise with the training mean/std, fit the ridge readout.

The device is either a :class:`hardware.Device` (used as is, serially; the caller owns and
closes it) or a **factory**: a picklable zero-argument callable returning a fresh device, such as
:class:`SimulatedDeviceSpec`. With a factory and ``n_jobs > 1`` the independent series are split
in chunks, each run in its own process on its own device (requires ``reset="restore"`` so that a
series never depends on the one before it; results equal a serial run exactly).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._checks import check_choice, check_int, check_real, make_rng
from ._estimator import check_X
from .errors import ModelValidationError
from .mapping import DEFAULT_ENCODING, NWESN_JUNCTION_PARAMS, encode_inputs
from .readout import RidgeReadout

__all__ = [
    "PhysicalReservoirClassifier",
    "PhysicalReservoirRegressor",
    "SimulatedDeviceSpec",
    "physical_features",
]

DeviceLike = Any  # hardware.Device or a zero-argument factory returning one


# --------------------------------------------------------------------------- pure helpers


def _check_X(X: Any, n_channels: int | None = None) -> np.ndarray:
    """:func:`nwmodel._estimator.check_X`, also accepting univariate ``(n_cases, n_timepoints)``."""
    if np.ndim(X) == 2:
        X = np.asarray(X)[:, None, :]
    return check_X(X, n_channels)


@dataclass(frozen=True)
class _Encoding:
    """Fitted input encoding (picklable; sent to worker processes)."""

    w_in: np.ndarray  # (n_inputs, n_channels)
    bias: np.ndarray  # (n_inputs,)
    mask: np.ndarray  # (n_virtual, n_inputs)
    slope: float
    v_bias_V: float
    v_scale_V: float
    dt_s: float
    reset: str
    relax_s: float
    features: str = "voltages"

    @property
    def n_virtual(self) -> int:
        return int(self.mask.shape[0])

    def voltages_V(self, x: np.ndarray) -> np.ndarray:
        """Electrode voltages of one series ``x`` (n_channels, T): shape (T * n_virtual, n_inputs)."""
        pre = self.w_in @ x  # (n_inputs, T)
        # sub-step k of sample t: mask[k] * (W_in x_t); the bias is added by encode_inputs
        seq = (self.mask[None, :, :] * pre.T[:, None, :]).reshape(-1, pre.shape[0])
        return encode_inputs(seq.T, np.eye(pre.shape[0]), self.bias, slope=self.slope,
                             v_bias_V=self.v_bias_V, v_scale_V=self.v_scale_V)


def _readings(measurement: Any) -> np.ndarray:
    """Per-step readings of a measurement: output voltages and probed node voltages (n_steps, n_read)."""
    parts = [np.asarray(measurement.output_V, dtype=float)]
    nodes = getattr(measurement, "node_voltage_V", None)
    if nodes is not None:
        parts.append(np.asarray(nodes, dtype=float))
    return np.concatenate(parts, axis=1)


def _series_features(device: Any, enc: _Encoding, x: np.ndarray) -> np.ndarray:
    """Reset, drive and read one series; return its raw features (n_virtual * n_read,)."""
    if enc.reset == "restore":
        device.reset()
    elif enc.reset == "relax" and enc.relax_s > 0:
        n_relax = max(1, round(enc.relax_s / enc.dt_s))
        device.apply(np.zeros((n_relax, len(device.input_names))), enc.dt_s)
    volts = enc.voltages_V(x)
    meas = device.apply(volts, enc.dt_s / enc.n_virtual)
    if enc.features == "conductances":
        return np.asarray(device.g, dtype=float).reshape(-1)
    return _readings(meas)[-enc.n_virtual :].reshape(-1)


def physical_features(device: Any, enc: _Encoding, X: np.ndarray, *, progress: bool = False) -> np.ndarray:
    """Raw features of every series of ``X`` (n_cases, n_channels, T) on one device, in order.

    Returns
    -------
    features : ndarray, shape (n_cases, n_virtual * n_read)
    """
    it: Sequence[Any] = X
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(X, desc="series", leave=False)
    return np.stack([_series_features(device, enc, x) for x in it])


def _run_chunk(factory: Callable[[], Any], enc: _Encoding, X: np.ndarray) -> np.ndarray:
    """Worker: build a device from ``factory``, run the chunk ``X``, close the device."""
    device = factory()
    try:
        return physical_features(device, enc, X)
    finally:
        device.close()


def _is_device(obj: Any) -> bool:
    return hasattr(obj, "apply") and hasattr(obj, "input_names")


# --------------------------------------------------------------------------- device factory


@dataclass(frozen=True)
class SimulatedDeviceSpec:
    """Picklable recipe for a :class:`hardware.SimulatedDevice` (a device factory).

    Either ``network_path`` (a device file of :func:`nwphys.save_network`) or a generated network
    (``n_wires`` wires of ``nwphys.generate`` in ``size_um`` with ``electrodes`` and ``device_seed``,
    NW-ESN junction constants, default wire lengths 10 +- 1 um; other ``generate`` keywords as
    ``(name, value)`` pairs in ``generate_kwargs``). The default, 300 wires on 50 x 50 um with a
    3 x 3 pad array, is ~3x the stick percolation density with ~900 junctions and ~250 nodes.
    Electrodes are assigned in layout order: the first ``n_inputs`` are inputs, the last one is
    ground, the rest are outputs. ``n_features``
    output + probed node voltages are read: ``n_features - n_outputs`` interior nodes are probed,
    chosen with ``device_seed``.

    Calling the spec returns a fresh device; generated networks are cached per process.
    """

    network_path: str | None = None
    n_wires: int = 300
    size_um: tuple[float, float] = (50.0, 50.0)
    electrodes: str = "mea3x3"
    n_inputs: int = 4
    n_features: int = 100
    device_seed: int = 7
    junction_params: tuple[tuple[str, float], ...] = tuple(NWESN_JUNCTION_PARAMS.items())
    generate_kwargs: tuple[tuple[str, Any], ...] = ()
    device_kwargs: tuple[tuple[str, Any], ...] = field(
        default=(("compliance_A", 10.0), ("rtol", 3e-4), ("atol", 3e-5)))
    """Extra keywords of :class:`hardware.SimulatedDevice` as ``(name, value)`` pairs (e.g. read noise).
    The default compliance is 10 A: NW-ESN junctions conduct 1e-3..0.1 S, so a 300-wire network
    draws ~0.1-2 A at 4-9 V (the device's own default, 0.1 A, would stop such runs). The default
    integrator tolerances (``rtol`` 3e-4, ``atol`` 3e-5, ten times tighter than the integrator's own
    3e-3 and 3e-4) keep every feature within 1e-3 of its spread across series of a tight reference
    at the operating points of the physical grids (``tests/test_stiff_reservoir.py``; the worst
    point, 8 V at 10 ms samples, reaches 8.4e-4; with 1e-3 and 1e-4 it was 2.5e-3)."""

    def network(self) -> Any:
        """The (cached) :class:`nwphys.NanowireNetwork` of this spec."""
        return _cached_network(self.network_path, int(self.n_wires), tuple(float(v) for v in self.size_um),
                               self.electrodes, int(self.device_seed), tuple(self.junction_params),
                               tuple(self.generate_kwargs))

    def roles(self) -> tuple[list[str], list[str], list[str], list[int]]:
        """Return ``(inputs, outputs, ground, probe_nodes)`` of the device."""
        net = self.network()
        circuit = net.circuit()
        names = list(circuit.electrode_names)
        n_in = check_int("n_inputs", self.n_inputs, low=1, high=max(1, len(names) - 2))
        inputs, ground, outputs = names[:n_in], [names[-1]], names[n_in:-1]
        n_probe = check_int("n_features", self.n_features, low=len(outputs)) - len(outputs)
        interior = np.setdiff1d(np.arange(circuit.n_nodes), np.asarray(circuit.electrode_node))
        if n_probe > interior.size:
            raise ModelValidationError(
                f"n_features must be <= {len(outputs) + interior.size} (outputs + interior nodes) for this "
                f"device, got {self.n_features}"
            )
        rng = np.random.default_rng(self.device_seed)
        probe = np.sort(rng.choice(interior, size=n_probe, replace=False)).tolist() if n_probe else []
        return inputs, outputs, ground, [int(p) for p in probe]

    def __call__(self) -> Any:
        from hardware.simulated import SimulatedDevice

        inputs, outputs, ground, probe = self.roles()
        return SimulatedDevice(self.network(), inputs=inputs, outputs=outputs, ground=ground,
                               probe_nodes=probe or None, **dict(self.device_kwargs))


@functools.lru_cache(maxsize=16)
def _cached_network(path: str | None, n_wires: int, size_um: tuple[float, float], electrodes: str, seed: int,
                    junction_params: tuple, generate_kwargs: tuple) -> Any:
    from nwphys.devicefile import load_network
    from nwphys.network import generate

    if path is not None:
        return load_network(path)
    return generate(n_wires=n_wires, size_um=size_um, electrodes=electrodes,
                           junction_model="rate_balance", junction_params=dict(junction_params), seed=seed,
                           **dict(generate_kwargs))


# --------------------------------------------------------------------------- estimators


class _PhysicalReservoirBase(BaseEstimator):
    """Shared implementation; see :class:`PhysicalReservoirClassifier` for the parameters."""

    _task: str = "classification"

    def __init__(
        self,
        device: DeviceLike = None,
        *,
        n_features: int | None = 100,
        v_scale_V: float = DEFAULT_ENCODING["v_scale_V"],
        v_bias_V: float = DEFAULT_ENCODING["v_bias_V"],
        dt_s: float = DEFAULT_ENCODING["dt_s"],
        slope: float = DEFAULT_ENCODING["slope"],
        input_scaling: float = DEFAULT_ENCODING["input_scaling"],
        bias_scaling: float = DEFAULT_ENCODING["bias_scaling"],
        n_virtual: int = 1,
        features: Literal["voltages", "conductances"] = "voltages",
        reset: Literal["restore", "relax", "none"] = "restore",
        relax_s: float = 1.0,
        standardize: bool = True,
        ridge_alpha: float = 1.0,
        n_jobs: int = 1,
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
        self.features = features
        self.reset = reset
        self.relax_s = relax_s
        self.standardize = standardize
        self.ridge_alpha = ridge_alpha
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- validation and set-up ------------------------------------------------------------

    def _validate(self) -> None:
        if self.device is None or not (_is_device(self.device) or callable(self.device)):
            raise ModelValidationError(
                "device must be a hardware.Device or a zero-argument factory returning one, "
                f"got {self.device!r}"
            )
        check_real("v_scale_V", self.v_scale_V, low=0.0, low_open=True)
        check_real("v_bias_V", self.v_bias_V)
        check_real("dt_s", self.dt_s, low=0.0, low_open=True)
        check_real("slope", self.slope, low=0.0, low_open=True)
        check_real("input_scaling", self.input_scaling, low=0.0)
        check_real("bias_scaling", self.bias_scaling, low=0.0)
        check_int("n_virtual", self.n_virtual, low=1)
        check_choice("reset", self.reset, ("restore", "relax", "none"))
        check_choice("features", self.features, ("voltages", "conductances"))
        check_real("relax_s", self.relax_s, low=0.0)
        check_real("ridge_alpha", self.ridge_alpha, low=0.0)
        n_jobs = check_int("n_jobs", self.n_jobs, low=1)
        if self.n_features is not None:
            check_int("n_features", self.n_features, low=1)
        if n_jobs > 1 and self.reset != "restore":
            raise ModelValidationError(
                "n_jobs > 1 needs reset='restore' (series must not depend on each other), "
                f"got reset={self.reset!r}"
            )

    def _open(self) -> tuple[Any, bool]:
        """Return ``(device, owned)``: a factory is called (and the device closed by us)."""
        if _is_device(self.device):
            return self.device, False
        return self.device(), True

    def _features(self, X: np.ndarray, enc: _Encoding) -> np.ndarray:
        n_jobs = int(self.n_jobs)
        if n_jobs > 1 and not _is_device(self.device) and X.shape[0] > 1:
            chunks = np.array_split(X, min(n_jobs, X.shape[0]))
            with ProcessPoolExecutor(max_workers=len(chunks)) as pool:
                parts = list(pool.map(_run_chunk, [self.device] * len(chunks), [enc] * len(chunks), chunks))
            return np.concatenate(parts, axis=0)
        device, owned = self._open()
        try:
            return physical_features(device, enc, X)
        finally:
            if owned:
                device.close()

    # -- public API -------------------------------------------------------------------------

    def _fit_states(self, X: Any) -> np.ndarray:
        self._validate()
        X = _check_X(X)
        rng = make_rng(self.random_state)
        device, owned = self._open()
        try:
            n_inputs = len(device.input_names)
            if self.features == "conductances" and not hasattr(device, "g"):
                raise ModelValidationError(
                    f"features='conductances' needs a simulated device exposing its junction state .g, "
                    f"got {type(device).__name__}"
                )
        finally:
            if owned:
                device.close()
        n_ch, n_v = X.shape[1], int(self.n_virtual)
        w_in = rng.uniform(-self.input_scaling, self.input_scaling, size=(n_inputs, n_ch))
        bias = rng.uniform(-self.bias_scaling, self.bias_scaling, size=n_inputs)
        mask = rng.uniform(-1.0, 1.0, size=(n_v, n_inputs)) if n_v > 1 else np.ones((1, n_inputs))
        self.encoding_ = _Encoding(
            w_in=w_in, bias=bias, mask=mask, slope=float(self.slope), v_bias_V=float(self.v_bias_V),
            v_scale_V=float(self.v_scale_V), dt_s=float(self.dt_s), reset=str(self.reset),
            relax_s=float(self.relax_s), features=str(self.features),
        )
        self.n_channels_ = n_ch
        raw = self._features(X, self.encoding_)
        n_avail = raw.shape[1]
        if self.n_features is None or int(self.n_features) == n_avail:
            self.feature_index_ = np.arange(n_avail)
        elif int(self.n_features) < n_avail:
            self.feature_index_ = np.sort(rng.choice(n_avail, size=int(self.n_features), replace=False))
        else:
            raise ModelValidationError(
                f"n_features must be <= {n_avail} (the device reads {n_avail // n_v} values x n_virtual "
                f"{n_v}), got {self.n_features}; probe more nodes, raise n_virtual or pass n_features=None"
            )
        F = raw[:, self.feature_index_]
        if self.standardize:
            self.feature_mean_ = F.mean(axis=0)
            std = F.std(axis=0)
            self.feature_scale_ = np.where(std > 0, std, 1.0)
        else:
            self.feature_mean_ = np.zeros(F.shape[1])
            self.feature_scale_ = np.ones(F.shape[1])
        self.n_features_out_ = F.shape[1]
        return (F - self.feature_mean_) / self.feature_scale_

    def transform(self, X: Any) -> np.ndarray:
        """Standardised physical states of every series.

        Parameters
        ----------
        X : array-like, shape (n_cases, n_channels, n_timepoints)

        Returns
        -------
        states : ndarray, shape (n_cases, n_features_out_)
        """
        check_is_fitted(self, "encoding_")
        X = _check_X(X, self.n_channels_)
        raw = self._features(X, self.encoding_)
        return (raw[:, self.feature_index_] - self.feature_mean_) / self.feature_scale_

    def fit(self, X: Any, y: Any) -> _PhysicalReservoirBase:
        """Drive the device with every training series and fit the ridge readout.

        Parameters
        ----------
        X : array-like, shape (n_cases, n_channels, n_timepoints)
            Input series (aeon layout).
        y : array-like, shape (n_cases,)
            Labels (classifier) or targets (regressor).
        """
        F = self._fit_states(X)
        y = np.asarray(y)
        if self._task == "classification":
            self.classes_ = np.unique(y)
        self.readout_ = RidgeReadout(task=self._task, alpha=self.ridge_alpha).fit(F, y)
        return self

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
        Number N of state features (default 100, as the abstract model); a seeded subset when the
        device reads more, an error when it reads fewer; None keeps all.
    v_scale_V, v_bias_V : float
        Electrode voltage window ``(v_bias_V, v_bias_V + v_scale_V)`` in volts (default the
        abstract RESCALE window (0.35, 1.15) V).
    dt_s : float
        Sample period in seconds (the abstract ``dt``), > 0.
    slope, input_scaling, bias_scaling : float
        Sigmoid slope (abstract ``s``), input scaling (``omega``: ``W_in`` uniform in
        +-input_scaling) and bias scaling (``beta``) of the input mask.
    n_virtual : int
        Virtual nodes per sample (time multiplexing), >= 1.
    features : {"voltages", "conductances"}
        ``voltages``: output-electrode voltages and the probed node voltages the device reports
        (last ``n_virtual`` sub-steps); ``conductances``: the junction states ``g`` after the
        series (simulated devices only; any number, subset to ``n_features``).
    reset : {"restore", "relax", "none"}
        Reset policy between series; ``relax`` holds the inputs at 0 V for ``relax_s`` seconds.
    relax_s : float
        Relaxation time in seconds for ``reset="relax"``.
    standardize : bool
        Z-score the features with the training mean/std before the readout.
    ridge_alpha : float
        Ridge regularisation of the readout.
    n_jobs : int
        Worker processes over chunks of series (factory devices only).
    random_state : int, Generator or None
        Seed of the input mask, bias, virtual-node mask and feature subset.

    Attributes
    ----------
    encoding_ : the fitted input encoding; feature_index_ : ndarray (n_features_out_,);
    readout_ : RidgeReadout; classes_ : ndarray.
    """

    _task = "classification"


class PhysicalReservoirRegressor(RegressorMixin, _PhysicalReservoirBase):
    """NW-ESN regressor whose reservoir is a physical network; parameters as
    :class:`PhysicalReservoirClassifier`."""

    _task = "regression"
