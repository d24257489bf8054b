"""Backend dispatch of the comparison: one table ``backend -> estimator factory`` and the grids.

Each backend builds the picklable ``make_estimator(params, seed)`` that
:func:`nwmodel.select_and_test` maps over (configuration, seed) tasks:

* ``abstract`` and ``esn``: a :class:`nwmodel.selection.EstimatorFactory` of ``nwesn`` or ``esn``;
  grids ``nwmodel.GRIDS["nwesn"]`` and ``nwmodel.GRIDS["esn"]``.
* ``oracle``, ``simulated``, ``emulated``: a :class:`PhysicalFactory` of the physical reservoir
  over a device (:mod:`nwmodel._compare_devices`); grids :data:`nwmodel.mapping.PHYSICAL_GRIDS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._compare_devices import EmulatedFactory, cell_calibration, check_fixed_device, with_device_keys
from .mapping import PHYSICAL_GRIDS
from .physical import PhysicalReservoirClassifier, PhysicalReservoirRegressor, SimulatedDeviceSpec

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

#: Model of :data:`nwmodel.selection.MODELS` behind each abstract backend.
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
        The estimators' ``device``; grid keys in :data:`~nwmodel._compare_devices.DEVICE_KEYS`
        replace fields of a :class:`SimulatedDeviceSpec` device.
    """

    task: str
    fixed: dict[str, Any]
    device: Any

    def __call__(self, params: dict[str, Any], seed: int) -> Any:
        params = dict(params)
        device = with_device_keys(self.device, params)
        cls = PhysicalReservoirClassifier if self.task == "classification" else PhysicalReservoirRegressor
        return cls(**{**self.fixed, **params, "random_state": seed, "device": device})


#: ``(task, device spec, configurations, feature store) -> (make_estimator, drive calibration or None)``.
Builder = Callable[[str, SimulatedDeviceSpec, Sequence[dict[str, Any]], "str | None"], tuple[Any, Any]]


def _abstract(backend: str) -> Builder:
    def build(
        task: str, spec: SimulatedDeviceSpec, configs: Sequence[dict[str, Any]], store: str | None
    ) -> tuple[Any, Any]:
        from .selection import EstimatorFactory

        return EstimatorFactory(_ABSTRACT_MODELS[backend], task), None

    return build


def _oracle(
    task: str, spec: SimulatedDeviceSpec, configs: Sequence[dict[str, Any]], store: str | None
) -> tuple[Any, Any]:
    calibration = cell_calibration(spec, configs)
    probed = dataclasses.replace(spec, n_probe=max(spec.n_probe, ORACLE_PROBES))
    return PhysicalFactory(task, {"readout": "oracle", "feature_store": store}, probed), calibration


def _simulated(
    task: str, spec: SimulatedDeviceSpec, configs: Sequence[dict[str, Any]], store: str | None
) -> tuple[Any, Any]:
    return PhysicalFactory(task, {"feature_store": store}, spec), cell_calibration(spec, configs)


def _emulated(
    task: str, spec: SimulatedDeviceSpec, configs: Sequence[dict[str, Any]], store: str | None
) -> tuple[Any, Any]:
    # never from the store: the emulated column measures the instrument path every time
    calibration = cell_calibration(spec, configs)
    check_fixed_device(configs)
    # the calibration measured on the device the emulator serves: features equal the simulated ones
    return PhysicalFactory(task, {"calibration": calibration}, EmulatedFactory(spec)), calibration


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

    Raises
    ------
    ExperimentError
        The emulated backend's grid holds device keys.
    """
    return _BUILDERS[backend](task, spec, configs, feature_store)


def grid_for(backend: str, grid: str, grids: dict[str, Any] | None) -> Any:
    """The grid of ``backend``: ``grids[backend]`` if given, else its ``grid`` ("quick" or "paper")."""
    if grids is not None and backend in grids:
        return grids[backend]
    if backend in PHYSICAL:
        return PHYSICAL_GRIDS[grid]
    from .selection import GRIDS

    return GRIDS[_ABSTRACT_MODELS[backend]][grid]


def grid_configs(grid: Any) -> list[dict[str, Any]]:
    """Every configuration of ``grid`` (a dict of lists or a list of them), in order."""
    from .selection import expand_grid

    return [dict(p) for p in expand_grid(grid)]
