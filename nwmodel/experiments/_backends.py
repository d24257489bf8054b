"""Backend dispatch of the comparison: one table ``backend -> estimator factory`` and the grids.

Each backend builds the picklable ``make_estimator(params, seed)`` that
:func:`nwmodel.select_and_test` maps over (configuration, seed) tasks:

* ``abstract`` and ``esn``: a :class:`nwmodel.selection.search.EstimatorFactory` of ``nwesn`` or ``esn``;
  grids ``nwmodel.GRIDS["nwesn"]`` and ``nwmodel.GRIDS["esn"]``.
* ``oracle``, ``simulated``, ``emulated``: a :class:`PhysicalFactory` of the physical reservoir
  over a device (:mod:`nwmodel.experiments._devices`) that gives each estimator the cell's
  calibration of its device (measured once per cell, never in a fit); grids
  :data:`nwmodel.physical.mapping.PHYSICAL_GRIDS` (``paper`` protocol) or
  :data:`nwmodel.physical.mapping.TUNED_PHYSICAL_GRIDS` (``tuned``).

The protocol (:mod:`nwmodel.selection.protocols`) sets every estimator's readout and adds the feature sets
to the ``tuned`` grids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nwmodel.experiments._devices import (
    EmulatedFactory,
    cell_calibrations,
    check_fixed_device,
    with_device_keys,
)
from nwmodel.physical.reservoir import (
    PhysicalReservoirClassifier,
    PhysicalReservoirRegressor,
    SimulatedDeviceSpec,
)

__all__ = [
    "BACKENDS",
    "ORACLE_PROBES",
    "PHYSICAL",
    "PhysicalFactory",
    "build_estimator",
    "grid_configs",
    "grid_for",
]

#: Backends of a comparison, in table order (``esn`` is the baseline added by default).
BACKENDS: tuple[str, ...] = ("abstract", "oracle", "simulated", "emulated", "esn")

#: Internal nodes the ``oracle`` backend probes (at least; more if the device spec asks).
ORACLE_PROBES: int = 84

#: Backends that run on a physical (simulated or emulated) device.
PHYSICAL: tuple[str, ...] = ("oracle", "simulated", "emulated")

#: Model of :data:`nwmodel.selection.search.MODELS` behind each abstract backend.
_ABSTRACT_MODELS = {"abstract": "nwesn", "esn": "esn"}


@dataclass(frozen=True)
class PhysicalFactory:
    """Picklable ``make_estimator(params, seed)`` of a physical reservoir for :func:`select_and_test`.

    Attributes
    ----------
    task : {"classification", "regression"}
        Picks :class:`PhysicalReservoirClassifier` or :class:`PhysicalReservoirRegressor`.
    fixed : dict
        Keyword arguments given to every estimator (e.g. ``{"readout": "oracle"}``).
    device : SimulatedDeviceSpec or callable
        The estimators' ``device``; grid keys in :data:`~nwmodel.experiments._devices.DEVICE_KEYS`
        replace fields of a :class:`SimulatedDeviceSpec` device.
    calibrations : tuple of (device, DriveCalibration) pairs
        The cell's calibration of each device its estimators drive
        (:func:`~nwmodel.experiments._devices.cell_calibrations`): an estimator on one of them gets
        it as its ``calibration`` unless its configuration sets one, so that no fit measures it
        again. Empty: every estimator calibrates as its parameters say.
    """

    task: str
    fixed: dict[str, Any]
    device: Any
    calibrations: tuple[tuple[Any, Any], ...] = ()

    def __call__(self, params: dict[str, Any], seed: int) -> Any:
        params = dict(params)
        device = with_device_keys(self.device, params)
        given = next(({"calibration": c} for d, c in self.calibrations if d == device), {})
        cls = PhysicalReservoirClassifier if self.task == "classification" else PhysicalReservoirRegressor
        return cls(**{**self.fixed, **given, **params, "random_state": seed, "device": device})


@dataclass(frozen=True)
class _Cell:
    """What a backend's builder is given: the arguments of :func:`build_estimator` for one cell
    (``store``: its ``feature_store``; ``readout``: the protocol's readout keywords)."""

    task: str
    spec: SimulatedDeviceSpec
    configs: Sequence[dict[str, Any]]
    store: str | None
    readout: dict[str, Any]


#: ``cell -> (make_estimator, drive calibration or None)``.
Builder = Callable[[_Cell], tuple[Any, Any]]


def _abstract(backend: str) -> Builder:
    def build(cell: _Cell) -> tuple[Any, Any]:
        from nwmodel.selection.search import EstimatorFactory

        return EstimatorFactory(_ABSTRACT_MODELS[backend], cell.task, dict(cell.readout)), None

    return build


def _oracle(cell: _Cell) -> tuple[Any, Any]:
    probed = dataclasses.replace(cell.spec, n_probe=max(cell.spec.n_probe, ORACLE_PROBES))
    # the probes only read node voltages: the calibration of the probed device is that of spec
    calibration, per_device = cell_calibrations(probed, cell.configs)
    fixed = {**cell.readout, "readout": "oracle", "feature_store": cell.store}
    return PhysicalFactory(cell.task, fixed, probed, per_device), calibration


def _simulated(cell: _Cell) -> tuple[Any, Any]:
    calibration, per_device = cell_calibrations(cell.spec, cell.configs)
    fixed = {**cell.readout, "feature_store": cell.store}
    return PhysicalFactory(cell.task, fixed, cell.spec, per_device), calibration


def _emulated(cell: _Cell) -> tuple[Any, Any]:
    # never from the store: the emulated column measures the instrument path every time
    check_fixed_device(cell.configs)
    calibration, per_device = cell_calibrations(cell.spec, cell.configs)
    # the calibration measured on the device the emulator serves: features equal the simulated ones
    served = tuple((EmulatedFactory(d), c) for d, c in per_device)
    return PhysicalFactory(cell.task, dict(cell.readout), EmulatedFactory(cell.spec), served), calibration


_BUILDERS: dict[str, Builder] = {
    "abstract": _abstract("abstract"),
    "oracle": _oracle,
    "simulated": _simulated,
    "emulated": _emulated,
    "esn": _abstract("esn"),
}


def build_estimator(
    backend: str,
    task: str,
    spec: SimulatedDeviceSpec,
    configs: Sequence[dict[str, Any]],
    feature_store: str | None = None,
    protocol: str = "tuned",
) -> tuple[Any, Any]:
    """The ``make_estimator`` of ``backend`` and the cell's drive calibration (None if abstract).

    Parameters
    ----------
    backend : one of :data:`BACKENDS`
    task : {"classification", "regression"}
    spec : SimulatedDeviceSpec
        Device of the physical backends.
    configs : sequence of dict
        Every configuration of the cell's grid (a calibration they all fix is used as is).
    feature_store : str, optional
        Directory of stored readings for the ``oracle`` and ``simulated`` estimators
        (``PhysicalReservoirClassifier(feature_store=...)``); None: every fit drives its device.
    protocol : {"paper", "tuned"}
        Readout of every estimator (:func:`nwmodel.selection.protocols.protocol_fixed`).

    Raises
    ------
    ExperimentError
        The emulated backend's grid holds device keys.
    """
    from nwmodel.selection.protocols import protocol_fixed

    readout = protocol_fixed(protocol, "physical" if backend in PHYSICAL else _ABSTRACT_MODELS[backend])
    return _BUILDERS[backend](_Cell(task, spec, configs, feature_store, readout))


def grid_for(
    backend: str,
    grid: str,
    grids: dict[str, Any] | None,
    protocol: str = "tuned",
    n_timepoints: int | None = None,
) -> Any:
    """The grid of ``backend``: ``grids[backend]`` if given, else the ``protocol``'s ``grid`` level.

    Parameters
    ----------
    backend : one of :data:`BACKENDS`
    grid : {"quick", "paper"}
    grids : dict, optional
        ``backend -> grid`` overrides (used as given, whatever the protocol).
    protocol : {"paper", "tuned"}
        :func:`nwmodel.selection.protocols.protocol_grid`.
    n_timepoints : int, optional
        Series length (the ``tuned`` feature sets that fit it).
    """
    if grids is not None and backend in grids:
        return grids[backend]
    from nwmodel.selection.protocols import protocol_grid

    model = "physical" if backend in PHYSICAL else _ABSTRACT_MODELS[backend]
    return protocol_grid(protocol, model, grid, n_timepoints)


def grid_configs(grid: Any) -> list[dict[str, Any]]:
    """Every configuration of ``grid`` (a dict of lists or a list of them), in order."""
    from nwmodel.selection.search import expand_grid

    return [dict(p) for p in expand_grid(grid)]
