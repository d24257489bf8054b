"""Device factory of the physical reservoir: a picklable recipe for a simulated device.

:class:`SimulatedDeviceSpec` names a network (a device file or a generated one), the electrode
roles and the device options; calling it returns a fresh :class:`hardware.SimulatedDevice`. The
network is built with :mod:`nwphys` (generation, device files, role patterns) and cached per
process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nwmodel._checks import check_int
from nwmodel.errors import ModelValidationError
from nwmodel.physical.mapping import DEVICE_JUNCTION_PARAMS

__all__ = ["SimulatedDeviceSpec"]


@dataclass(frozen=True)
class SimulatedDeviceSpec:
    """Picklable recipe for a :class:`hardware.SimulatedDevice` (a device factory).

    Either ``network_path`` (a device file of :func:`nwphys.save_network`) or a generated network
    (``n_wires`` wires of ``nwphys.generate`` in ``size_um`` with ``electrodes`` and ``device_seed``;
    other ``generate`` keywords as ``(name, value)`` pairs in ``generate_kwargs``).

    The default is a bench-like device (:data:`~nwmodel.physical.mapping.DEVICE_JUNCTION_PARAMS`): 400 wires
    of 10 +- 1 um on 50 x 50 um (~2.9x the stick percolation density, ~1700 junctions) under a
    4 x 4 array of 2.5 um pads (a 16-electrode array), roles in a chessboard (corner pads ground,
    6 inputs, 6 outputs), junctions with the NW-ESN kinetics and published Ag conductances
    (12.9 MOhm off, 12.9 kOhm on), 1 mA compliance on every electrode.

    Parameters
    ----------
    role_pattern : str or tuple of (name, role) pairs
        Role pattern of :func:`nwphys.assign_roles` (``"chessboard"``, ``"rows"``, ``"columns"``,
        ``"first-last"``, ``"auto"``: one for any layout) or explicit ``(electrode, role)`` pairs.
    n_inputs : int, optional
        The inputs of the pattern (:func:`nwphys.assign_roles`): the leading inputs of
        ``"first-last"``, else keep only the first ``n_inputs`` inputs (the others float). None:
        the device file's ``metadata["n_inputs"]`` (``nwhil device generate --n-inputs``) if it
        has one, else the pattern's own.
    n_probe : int
        Internal (non-electrode) nodes probed for the simulation-only ``readout="oracle"``,
        chosen with ``device_seed`` (0: none).
    device_kwargs : tuple of (name, value) pairs
        Extra keywords of :class:`hardware.SimulatedDevice`. The default compliance is 1 mA; the
        integrator is the compiled batched engine with its third-order scheme
        (``method="esdirk3-sn"``, :mod:`nwphys.dynamics.batched`), with tolerances (``rtol`` 3e-5,
        ``atol`` 1e-6, a hundred and three hundred times tighter than the one-series integrator's
        own) that keep every feature within 1e-3 of its spread across series of a tight
        reference (exact-Newton ``"sdirk2"`` at ``rtol`` 1e-6, ``atol`` 1e-7) at every point of the
        physical grids on the calibrated drive (``tests/nwmodel/test_stiff_reservoir.py``). The
        error there follows ``atol``: most junctions stay near ``g`` = 0, where ``atol``, not
        ``rtol |g|``, sets their tolerance. The hardest
        feature (``random_state=0``) is a pad's current at ``input_scaling`` 1, slope 1 and 2 ms
        virtual-node sub-steps (``dt_s`` 0.01 s, 5 virtual nodes), whose spread across series is
        33 nA on -7.6 uA: 5.5e-4 of it under these tolerances, 1.18e-3 under the ``atol`` 3e-6 of
        versions 0.3 and 0.4, 1.0e-3 under ``atol`` 2e-6. Device keywords given without
        ``method`` use :class:`hardware.SimulatedDevice`'s default, the one-series ``"sdirk2"``.
        The default of versions 0.3 and 0.4 is ``atol`` 3e-6: with it, ``"sdirk2-sn"`` reproduces
        the features of the first default of version 0.3.0 bit for bit, and ``"sdirk2"`` those of
        version 0.2.0.

    Calling the spec returns a fresh device; generated networks are cached per process.
    """

    network_path: str | None = None
    n_wires: int = 400
    size_um: tuple[float, float] = (50.0, 50.0)
    electrodes: str = "mea4x4"
    role_pattern: str | tuple[tuple[str, str], ...] = "chessboard"
    n_inputs: int | None = None
    n_probe: int = 0
    device_seed: int = 1
    junction_params: tuple[tuple[str, float], ...] = tuple(DEVICE_JUNCTION_PARAMS.items())
    generate_kwargs: tuple[tuple[str, Any], ...] = ()
    device_kwargs: tuple[tuple[str, Any], ...] = field(
        default=(("compliance_A", 1e-3), ("rtol", 3e-5), ("atol", 1e-6), ("method", "esdirk3-sn"))
    )

    @classmethod
    def from_preset(cls, preset: str, **fields: Any) -> SimulatedDeviceSpec:
        """The default device (or ``fields``) with the junctions of a preset name or preset file.

        Parameters
        ----------
        preset : str
            A name of :data:`nwphys.junctions.JUNCTION_PRESETS` or a junction preset file
            (``.json``, e.g. written by ``nwhil device fit -o``). A chip preset of ``nwhil device
            fit-geometry -o`` sets the geometry too: its size, electrodes and length law, and
            ``n_wires`` from its density (over ``size_um`` where given), unless ``fields`` set them.
        **fields
            Other fields of the spec.

        Returns
        -------
        SimulatedDeviceSpec
            Its ``junction_params`` are the preset's; a model other than ``"rate_balance"``
            (a stochastic fit: ``"rate_balance_ou"``) is named in ``generate_kwargs``.
        """
        import nwphys

        model, params = nwphys.resolve_junction_preset(preset)
        given = dict(fields.pop("generate_kwargs", ()))
        geometry = None
        if str(preset).endswith(".json"):
            geometry = nwphys.read_junction_preset(preset)[2].get("geometry")
        if geometry:  # a chip preset (``nwhil device fit-geometry -o``): its geometry where not given
            size = tuple(float(x) for x in fields.get("size_um", geometry["size_um"]))
            fields["size_um"] = size
            fields.setdefault("n_wires", max(1, round(geometry["density_per_um2"] * size[0] * size[1])))
            if "electrodes" in geometry:
                fields.setdefault("electrodes", geometry["electrodes"])
            for k in ("length_dist", "length_mean_um", "length_std_um", "diameter_nm", "representation"):
                given.setdefault(k, geometry[k])
        gen = tuple((k, v) for k, v in given.items() if k != "junction_model")
        if model != "rate_balance":
            gen = (*gen, ("junction_model", model))
        return cls(junction_params=tuple(params.items()), generate_kwargs=gen, **fields)

    def network(self) -> Any:
        """The (cached) :class:`nwphys.NanowireNetwork` of this spec."""
        return _cached_network(
            self.network_path,
            int(self.n_wires),
            tuple(float(v) for v in self.size_um),
            self.electrodes,
            int(self.device_seed),
            tuple(self.junction_params),
            tuple(self.generate_kwargs),
        )

    def roles(self) -> tuple[list[str], list[str], list[str], list[int]]:
        """Return ``(inputs, outputs, ground, probe_nodes)`` of the device."""
        import nwphys

        net = self.network()
        circuit = net.circuit()
        pattern = self.role_pattern if isinstance(self.role_pattern, str) else dict(self.role_pattern)
        n_in = self.n_inputs if self.n_inputs is not None else net.metadata.get("n_inputs")
        n_in = None if n_in is None else check_int("n_inputs", n_in, low=1)
        try:
            ra = nwphys.assign_roles(net.electrodes, pattern, n_inputs=n_in)
        except nwphys.ValidationError as exc:
            raise ModelValidationError(str(exc)) from None
        n_probe = check_int("n_probe", self.n_probe, low=0)
        interior = np.setdiff1d(np.arange(circuit.n_nodes), np.asarray(circuit.electrode_node))
        if n_probe > interior.size:
            raise ModelValidationError(
                f"n_probe must be <= {interior.size} (the interior nodes of this device), got {self.n_probe}"
            )
        rng = np.random.default_rng(self.device_seed)
        probe = np.sort(rng.choice(interior, size=n_probe, replace=False)).tolist() if n_probe else []
        return list(ra.inputs), list(ra.outputs), list(ra.ground), [int(p) for p in probe]

    def __call__(self) -> Any:
        """A fresh :class:`hardware.SimulatedDevice` of this spec (the caller closes it)."""
        from hardware.backends.simulated import SimulatedDevice

        inputs, outputs, ground, probe = self.roles()
        return SimulatedDevice(
            self.network(),
            inputs=inputs,
            outputs=outputs,
            ground=ground,
            probe_nodes=probe or None,
            **dict(self.device_kwargs),
        )


@functools.lru_cache(maxsize=16)
def _cached_network(
    path: str | None,
    n_wires: int,
    size_um: tuple[float, float],
    electrodes: str,
    seed: int,
    junction_params: tuple,
    generate_kwargs: tuple,
) -> Any:
    """The network of a spec: loaded from ``path`` or generated (one per argument set and process)."""
    import nwphys

    if path is not None:
        return nwphys.load_network(path)
    kw = dict(generate_kwargs)
    return nwphys.generate(
        n_wires=n_wires,
        size_um=size_um,
        electrodes=electrodes,
        junction_model=kw.pop("junction_model", "rate_balance"),
        junction_params=dict(junction_params),
        seed=seed,
        **kw,
    )
