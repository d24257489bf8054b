"""Checks a comparison makes before any cell runs: split sizes, the device, its drive.

* :func:`check_subsample_sizes`: ``max_train`` and ``max_test`` leave every class enough series
  for the stratified subsample and the stratified 80/20 validation split of model selection.
* :func:`check_device`: the device of the physical backends loads (or generates) and its
  electrode roles can be assigned; returns the SHA-256 of its device file.
* :func:`check_device_drive`: the physical backend's drive calibration succeeds on the device
  (junction window within the input limit and the compliance).

Each raises a domain error whose message names the argument or the device and says what would
work, so that a bad argument is reported before any cell is computed or stored.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nwmodel.errors import ExperimentError, ModelValidationError
from nwmodel.experiments._results import file_digest
from nwmodel.physical.reservoir import SimulatedDeviceSpec

__all__ = ["check_device", "check_device_drive", "check_subsample_sizes"]

#: Fraction of the (subsampled) training split held out for validation by model selection
#: (:func:`nwmodel.selection.search.validation_split`).
VAL_SIZE = 0.2


def _split_ok(counts: np.ndarray) -> bool:
    """Whether labels with these class counts pass the stratified 80/20 validation split.

    Classes of fewer than 2 cases stay out of the stratification
    (:func:`nwmodel.selection.search.validation_split`); scikit-learn needs each part to hold at least
    one case per stratified class.
    """
    kept = counts[counts >= 2]
    if kept.size == 0:
        return False
    n = int(kept.sum())
    n_val = math.ceil(VAL_SIZE * n)
    return n_val >= kept.size and n - n_val >= kept.size


def _subsampled_counts(y: np.ndarray, n: int | None) -> np.ndarray | None:
    """Class counts of the seeded stratified subsample of ``n`` labels, or None if it cannot be drawn."""
    from nwmodel.experiments.compare import _subsample

    try:
        _, ys = _subsample(np.zeros((y.shape[0], 1)), y, n, "classification", 0)
    except ValueError:
        return None
    return np.unique(ys, return_counts=True)[1]


def check_subsample_sizes(
    data: Any,
    max_train: int | None,
    max_test: int | None,
    names: Sequence[str] = ("max_train", "max_test"),
) -> None:
    """Refuse subsample sizes that the stratified splits of a comparison cannot use.

    Parameters
    ----------
    data : Dataset
        The loaded dataset (``X_train``, ``y_train``, ``X_test``, ``y_test``, ``task``, ``name``).
    max_train, max_test : int or None
        Subsample sizes of the training and test splits (None: the whole split).
    names : (str, str)
        How the messages name the two sizes (the CLI passes its options).

    Raises
    ------
    ModelValidationError
        A size below 1; for classification, a training size whose subsample or whose 80/20
        validation split cannot hold one series of every class in each part (the message gives
        the smallest size that can), or a test size that a stratified subsample cannot draw.
    """
    for name, value in zip(names, (max_train, max_test), strict=True):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise ModelValidationError(f"{name} must be an integer >= 1 or None, got {value!r}")
    if data.task != "classification":
        n = int(np.asarray(data.y_train).shape[0]) if max_train is None else min(max_train, len(data.y_train))
        if n - math.ceil(VAL_SIZE * n) < 2:
            raise ModelValidationError(
                f"{names[0]}={max_train} leaves {n} training series of {data.name}; model selection "
                "needs at least 4 (at least 2 to fit and 1 to validate)"
            )
        return
    y = np.asarray(data.y_train)
    n_train = y.shape[0]
    if max_train is not None and max_train < n_train:
        counts = _subsampled_counts(y, max_train)
        if counts is None or not _split_ok(counts):
            n_classes = np.unique(y).size
            least = next(
                (
                    m
                    for m in range(max_train + 1, n_train)
                    if (c := _subsampled_counts(y, m)) is not None and _split_ok(c)
                ),
                None,
            )
            fix = f"{least} or more" if least is not None else f"none (all {n_train})"
            raise ModelValidationError(
                f"{names[0]}={max_train} is too small for the {n_classes} classes of {data.name}: a "
                f"stratified 80/20 validation split needs one series of every class in each part; "
                f"use {names[0]} {fix}"
            )
    if max_test is not None and data.y_test is not None:
        yt = np.asarray(data.y_test)
        if max_test < yt.shape[0] and _subsampled_counts(yt, max_test) is None:
            k = np.unique(yt).size
            raise ModelValidationError(
                f"{names[1]}={max_test} cannot be drawn as a stratified subsample of the "
                f"{yt.shape[0]} test series of {data.name} ({k} classes): use a value in "
                f"[{k}, {yt.shape[0] - k}], or {yt.shape[0]} or more for the whole split"
            )


def _device_label(spec: SimulatedDeviceSpec) -> str:
    if spec.network_path is not None:
        return repr(str(spec.network_path))
    return f"(generated: {spec.n_wires} wires, {spec.electrodes}, seed {spec.device_seed})"


def check_device(spec: SimulatedDeviceSpec) -> str | None:
    """Load or generate the device of ``spec`` and assign its roles; the SHA-256 of its file.

    Returns
    -------
    str or None
        SHA-256 (hex) of the device file, None for a generated device.

    Raises
    ------
    ExperimentError
        The device file is missing or unreadable, the network cannot be generated, or its
        electrodes cannot take the role pattern (the message names the device).
    """
    from nwphys.errors import NanowireError

    digest = None
    if spec.network_path is not None:
        try:
            digest = file_digest(spec.network_path)
        except OSError as exc:
            raise ExperimentError(f"cannot read device file {_device_label(spec)}: {exc.strerror}") from None
    try:
        spec.roles()
    except (NanowireError, ModelValidationError) as exc:
        raise ExperimentError(f"device {_device_label(spec)}: {exc}") from None
    return digest


def check_device_drive(
    spec: SimulatedDeviceSpec,
    backends: Sequence[str],
    grid: str,
    grids: dict[str, Any] | None,
    protocol: str,
) -> None:
    """Calibrate the drive of the physical ``backends`` on ``spec`` as their cells will; refuse a
    device they cannot drive.

    Backends whose grids have the same configurations calibrate the same way, so each distinct
    grid is calibrated once.

    Raises
    ------
    ExperimentError
        The calibration fails (a probe or the calibrated drive reaches the compliance, no
        switching within the input limit, ...). The message names the device, its junction
        conductance range and compliance, and, for junctions that conduct more than the Ag
        junctions of the default device, the ``"ag"`` junction preset.
    """
    from nwmodel.experiments._backends import grid_configs, grid_for
    from nwmodel.experiments._devices import cell_calibration, check_fixed_device
    from nwmodel.physical.calibration import CalibrationError

    by_grid: list[tuple[str, list[dict[str, Any]]]] = []
    for backend in backends:
        configs = grid_configs(grid_for(backend, grid, grids, protocol))
        if backend == "emulated":
            check_fixed_device(configs)
        if all(configs != c for _, c in by_grid):
            by_grid.append((backend, configs))
    hw_log = logging.getLogger("hardware")
    level = hw_log.level
    hw_log.setLevel(logging.ERROR)  # a probe's compliance hit is this check's finding, not a warning
    try:
        for backend, configs in by_grid:
            try:
                cell_calibration(spec, configs)
            except CalibrationError as exc:
                raise _cannot_drive(spec, backend, exc) from None
    finally:
        hw_log.setLevel(level)


def _cannot_drive(spec: SimulatedDeviceSpec, backend: str, exc: Exception) -> ExperimentError:
    """The refusal of a device whose calibration failed: device, conductances, compliance, remedy."""
    from nwphys.junctions import AG_JUNCTION_RANGE_S

    net = spec.network()
    params = dict(net.junction_params)
    g_lo, g_hi = params.get("G_min_S"), params.get("G_max_S")
    compliance = dict(spec.device_kwargs).get("compliance_A")
    what = f"{net.n_junctions} junctions"
    if g_lo is not None and g_hi is not None:
        what += f" of {g_lo:.3g} to {g_hi:.3g} S"
    if compliance is not None:
        what += f", compliance {compliance:g} A"
    hint = ""
    if g_hi is not None and g_hi > AG_JUNCTION_RANGE_S["G_max_S"]:
        hint = (
            f"; its junctions conduct more than Ag junctions (up to "
            f"{AG_JUNCTION_RANGE_S['G_max_S']:.3g} S): make the device with the junction preset "
            "'ag' (nwhil device generate --preset ag)"
        )
    reason = str(exc).split("; use ")[0]
    return ExperimentError(
        f"the {backend} backend cannot drive device {_device_label(spec)} ({what}): {reason}{hint}"
    )
