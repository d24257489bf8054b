"""Feature assembly of the physical reservoir: reset, drive and read each series on a device.

Pure over the :class:`hardware.Device` API: :func:`physical_trajectories` runs series in order on
one device and keeps every sample's readings (:func:`physical_features` reduces them to a readout
feature set), :func:`run_chunk` builds a device from a factory for a worker process. The simulation-only
readouts (``"oracle"``, ``"conductances"``) go through the device's oracle readout
(:meth:`hardware.SimulatedDevice.oracle`) and the probed node voltages of its measurements.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nwmodel._estimator import check_X
from nwmodel.errors import ModelValidationError
from nwmodel.models.readout import trajectory_features
from nwmodel.physical._drive import Encoding

__all__ = [
    "READOUTS",
    "check_series",
    "closing",
    "electrode_readings",
    "is_device",
    "physical_features",
    "physical_trajectories",
    "run_chunk",
]

#: Readouts of the physical reservoir: what each feature row holds (per reading time).
READOUTS: dict[str, str] = {
    "electrodes": "output-electrode voltages, then input- and ground-electrode currents (what a bench "
    "measures)",
    "oracle": "the electrode readout, then the probed internal node voltages (simulation only)",
    "conductances": "the junction states of a simulated device after the series (simulation only)",
}


def check_series(X: Any, n_channels: int | None = None) -> np.ndarray:
    """:func:`nwmodel._estimator.check_X`, also accepting univariate ``(n_cases, n_timepoints)``."""
    if np.ndim(X) == 2:
        X = np.asarray(X)[:, None, :]
    return check_X(X, n_channels)


def is_device(obj: Any) -> bool:
    """Whether ``obj`` is a device (has the Device API) rather than a factory of one."""
    return hasattr(obj, "apply") and hasattr(obj, "input_names")


def electrode_readings(measurement: Any) -> np.ndarray:
    """What a bench measures per step: output voltages (V), input and ground currents (A).

    Parameters
    ----------
    measurement : hardware.Measurement

    Returns
    -------
    ndarray, shape (n_steps, n_outputs + n_inputs + n_ground)
        Columns: ``output_V`` in :attr:`~hardware.Device.output_names` order, then
        ``input_current_A`` and ``ground_current_A`` (no internal node information).
    """
    return np.concatenate(
        [
            np.asarray(measurement.output_V, dtype=float),
            np.asarray(measurement.input_current_A, dtype=float),
            np.asarray(measurement.ground_current_A, dtype=float),
        ],
        axis=1,
    )


def _readings(measurement: Any, readout: str) -> np.ndarray:
    """Per-step feature readings of a measurement for ``readout`` (n_steps, n_read)."""
    parts = electrode_readings(measurement)
    if readout == "oracle":
        nodes = getattr(measurement, "node_voltage_V", None)
        if nodes is None:
            raise ModelValidationError(
                "readout='oracle' needs a simulated device with probed internal nodes (probe_nodes); "
                "this device reports none"
            )
        parts = np.concatenate([parts, np.asarray(nodes, dtype=float)], axis=1)
    return parts


def _series_trajectory(device: Any, enc: Encoding, x: np.ndarray) -> np.ndarray:
    """Reset, drive and read one series; return its trajectory (n_samples, n_virtual * n_read).

    Row ``t`` holds the readings at the ends of the ``n_virtual`` sub-steps of sample ``t``,
    virtual node first. ``readout="conductances"`` gives one row: the junction states after the
    series.
    """
    if enc.reset == "restore":
        device.reset()
    elif enc.reset == "relax" and enc.relax_s > 0:
        n_relax = max(1, round(enc.relax_s / enc.dt_s))
        device.apply(np.zeros((n_relax, len(device.input_names))), enc.dt_s)
    volts = enc.voltages_V(x)
    meas = device.apply(volts, enc.dt_s / enc.n_virtual)
    if enc.readout == "conductances":
        return np.asarray(device.oracle().state, dtype=float).reshape(1, -1)
    return _readings(meas, enc.readout).reshape(x.shape[-1], -1)


def physical_trajectories(
    device: Any, enc: Encoding, X: np.ndarray, *, progress: bool = False
) -> np.ndarray:
    """Raw reading trajectories of every series of ``X`` on one device, in order.

    Parameters
    ----------
    device : hardware.Device
        The reservoir; driven serially, left open.
    enc : Encoding
        Fitted input encoding (one of ``encodings_`` of a fitted physical reservoir).
    X : ndarray, shape (n_cases, n_channels, n_timepoints)
        Input series.
    progress : bool
        Show a progress bar over the series.

    Returns
    -------
    ndarray, shape (n_cases, n_timepoints, n_virtual * n_read)
        Per sample, the readings at the end of each virtual node's sub-step: volts (output
        voltages, probed node voltages) and amperes (currents); for ``readout="conductances"``,
        shape (n_cases, 1, n_junctions): the dimensionless junction states after each series.
    """
    if enc.reset == "restore" and enc.readout != "conductances" and hasattr(device, "apply_batch"):
        return _batched_trajectories(device, enc, X, progress)
    it: Sequence[Any] = X
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(X, desc="series", leave=False)
    return np.stack([_series_trajectory(device, enc, x) for x in it])


#: Series per call of a device's ``apply_batch`` (the unit of the progress bar).
BATCH_SERIES = 64


def _batched_trajectories(device: Any, enc: Encoding, X: np.ndarray, progress: bool) -> np.ndarray:
    """:func:`physical_trajectories` through ``device.apply_batch``: every series from the reset
    state, as the one-at-a-time loop with ``reset="restore"`` does. The first failed series
    raises its error (naming the series) once its batch is done."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(X), desc="series", leave=False)
    out = []
    try:
        for start in range(0, len(X), BATCH_SERIES):
            chunk = X[start : start + BATCH_SERIES]
            results = device.apply_batch([enc.voltages_V(x) for x in chunk], enc.dt_s / enc.n_virtual)
            for b, r in enumerate(results):
                if isinstance(r, BaseException):
                    raise type(r)(f"series {start + b} of {len(X)}: {r}")
                out.append(_readings(r, enc.readout).reshape(chunk[b].shape[-1], -1))
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return np.stack(out)


def physical_features(
    device: Any, enc: Encoding, X: np.ndarray, *, features: str | int = "last", progress: bool = False
) -> np.ndarray:
    """Raw readout features of every series of ``X`` on one device, in order.

    Parameters
    ----------
    device, enc, X, progress
        As :func:`physical_trajectories`.
    features : {"last", "all", "pooled"} or int
        Feature set of :func:`nwmodel.models.readout.trajectory_features` (``"last"``: the readings of
        the last sample's ``n_virtual`` sub-steps).

    Returns
    -------
    ndarray, shape (n_cases, n_features)
    """
    return trajectory_features(physical_trajectories(device, enc, X, progress=progress), features)


def closing(device: Any) -> Any:
    """``device`` as a context manager that closes it: the device itself where it is one (a
    :class:`hardware.Device`: a safe state that fails on leaving is raised, or noted on the error
    that is already leaving, which it never replaces), else :func:`contextlib.closing`."""
    return device if hasattr(device, "__exit__") else contextlib.closing(device)


def run_chunk(factory: Callable[[], Any], enc: Encoding, X: np.ndarray) -> np.ndarray:
    """Worker: build a device from ``factory``, run the chunk ``X`` (trajectories), close the device."""
    with closing(factory()) as device:
        return physical_trajectories(device, enc, X)
