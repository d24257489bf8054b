"""Held-sample integration methods: one small class per method, behind :class:`~nwphys.Stepper`.

A held-sample method advances a junction network through samples whose sources are held constant
and reads each at the end of its hold (see :mod:`nwphys.dynamics.stepper`). Every class here provides, as
:class:`HeldMethod` declares:

1. ``__init__(solver, model, options)``: the circuit's :class:`~nwphys.circuit.nodal.NodalSolver` (with its
   driven electrodes), the junction model and the :class:`HeldOptions` of the stepper;
2. ``run(g, driven_V, dt_s, t0_s, probe)``: the samples, returning the state after them and the
   readings (:class:`HeldRun`);
3. ``reset()``: forget whatever the method carries between calls (step-size history, voltages), so
   that the same state and drive give the same result bit for bit.

When ``run`` raises, ``partial`` holds the state after the last completed sample and how many
samples completed, so that the stepper keeps the state a bench would have.

The registry of :mod:`nwphys.dynamics.methods` names each class in one row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nwphys.circuit.nodal import NodalSolver
from nwphys.dynamics._frozen_voltage import FrozenVoltageKernel
from nwphys.dynamics.implicit import StiffIntegrator
from nwphys.errors import IntegrationError, SolverError, ValidationError
from nwphys.junctions import JunctionModel

__all__ = [
    "BatchedEsdirkCudaHeld", "BatchedEsdirkHeld", "BatchedHeld", "ExactHeld", "HeldMethod", "HeldOptions",
    "HeldRun", "SdirkHeld",
]


@dataclass(frozen=True)
class HeldOptions:
    """The stepper options a held-sample method may use (each method reads its own)."""

    rtol: float
    atol: float
    n_substeps: int | str = 1
    guard: str = "raise"
    max_step_fraction: float = 0.01
    monitor: object | None = None


@dataclass(frozen=True)
class HeldRun:
    """What :meth:`HeldMethod.run` returns: the state after the samples and one reading per sample."""

    g: np.ndarray
    electrode_voltage_V: np.ndarray
    electrode_current_A: np.ndarray
    node_voltage_V: np.ndarray | None
    stats: dict[str, int]


class HeldMethod:
    """Base class of the held-sample methods (see the module docstring)."""

    def __init__(self, solver: NodalSolver, model: JunctionModel, options: HeldOptions) -> None:
        self.solver = solver
        self.model = model
        self.options = options
        self.circuit = solver.circuit
        self.partial: tuple[np.ndarray, int] | None = None

    def reset(self) -> None:
        """Forget what is carried between calls."""

    def run(
        self, g: np.ndarray, driven_V: np.ndarray, dt_s: float, t0_s: float, probe: np.ndarray | None
    ) -> HeldRun:  # pragma: no cover - overridden
        raise NotImplementedError

    def _outputs(self, n: int, probe: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        ne = self.circuit.n_electrodes
        return np.empty((n, ne)), np.empty((n, ne)), None if probe is None else np.empty((n, probe.size))


class SdirkHeld(HeldMethod):
    """``"sdirk2"``: :class:`~nwphys.dynamics.implicit.StiffIntegrator` sample by sample (exact Newton)."""

    def __init__(self, solver: NodalSolver, model: JunctionModel, options: HeldOptions) -> None:
        super().__init__(solver, model, options)
        self.integ = StiffIntegrator(
            solver,
            model,
            rtol=options.rtol,
            atol=options.atol,
            monitor=options.monitor,  # type: ignore[arg-type]
        )
        self._x = np.zeros(solver.n_unknowns)

    def reset(self) -> None:
        self.integ.reset()
        self._x = np.zeros(self.solver.n_unknowns)

    def run(
        self, g: np.ndarray, driven_V: np.ndarray, dt_s: float, t0_s: float, probe: np.ndarray | None
    ) -> HeldRun:
        n = driven_V.shape[0]
        out_V, out_I, out_P = self._outputs(n, probe)
        before = self.integ.stats.as_dict()
        enode = self.circuit.electrode_node
        t = t0_s
        self.partial = (g, 0)
        for k in range(n):
            vd = driven_V[k]
            g, self._x, V = self.integ.integrate(g, self._x, dt_s, vd, t0_s=t)
            self.partial = (g, k + 1)
            out_V[k] = V[enode]
            out_I[k] = self.solver.electrode_currents(self.model.conductance_S(g), vd, V)
            if out_P is not None:
                out_P[k] = V[probe]
            t += dt_s
        after = self.integ.stats.as_dict()
        return HeldRun(g, out_V, out_I, out_P, {k: after[k] - before[k] for k in after})


class ExactHeld(HeldMethod):
    """``"exact"``: ``n_substeps`` frozen-voltage steps per sample, then one nodal solve for the reading."""

    def __init__(self, solver: NodalSolver, model: JunctionModel, options: HeldOptions) -> None:
        super().__init__(solver, model, options)
        self.kernel = FrozenVoltageKernel(
            solver, model, guard=options.guard, max_step_fraction=options.max_step_fraction
        )
        self._a = self.circuit.edges[:, 0]
        self._b = self.circuit.edges[:, 1]

    def run(
        self, g: np.ndarray, driven_V: np.ndarray, dt_s: float, t0_s: float, probe: np.ndarray | None
    ) -> HeldRun:
        n = driven_V.shape[0]
        out_V, out_I, out_P = self._outputs(n, probe)
        n_sub = n_solves = 0
        auto = self.options.n_substeps == "auto"
        t = t0_s
        self.partial = (g, 0)
        for k in range(n):
            g, recs, m = self._sample(g, driven_V[k], dt_s, t, probe)
            self.partial = (g, k + 1)
            n_sub += m
            n_solves += m + 1 + auto
            out_V[k] = recs["electrode_voltage_V"][0]
            out_I[k] = recs["electrode_current_A"][0]
            if out_P is not None:
                out_P[k] = recs["node_voltage_V"][0]
            t += dt_s
        stats = {"n_steps": n_sub, "n_rejected": 0, "n_newton": 0, "n_solves": n_solves}
        return HeldRun(g, out_V, out_I, out_P, stats)

    def _sample(
        self, g: np.ndarray, vd: np.ndarray, dt: float, t: float, probe: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
        """Frozen-voltage sub-steps over one sample, then the reading solve at its end."""
        if self.options.n_substeps == "auto":
            try:
                V = self.solver.node_voltages(self.model.conductance_S(g), vd)
            except SolverError as exc:
                raise IntegrationError(f"nodal solve failed at t={t:.9g} s: {exc}") from None
            rate = float(np.max(self.model.rate_constant_per_s(g, V[self._a] - V[self._b])))
            m = max(1, math.ceil(rate * dt / self.options.max_step_fraction * (1 + 1e-12)))
        else:
            m = int(self.options.n_substeps)
        record = np.zeros(m + 1, dtype=bool)
        record[-1] = True
        g, recs = self.kernel.run(
            g,
            np.broadcast_to(vd, (m + 1, vd.size)),
            dt / m,
            t,
            last_update=False,
            record=record,
            probe=probe,
            keep_g=False,
        )
        return g, recs, m


class BatchedHeld(HeldMethod):
    """``"sdirk2-sn"``: the compiled engine of :mod:`nwphys.dynamics.batched` on one series per call.

    Each call starts the engine's step-size history and Newton matrix afresh (a sample that
    follows in the next call therefore gives the same result as in the same call to within the
    tolerances, not bit for bit).
    """

    #: The engine's scheme (:data:`nwphys.dynamics.batched.SCHEMES`).
    scheme: str = "sdirk2"
    #: The engine's backend (``"numba"`` or ``"torch"``) and, for torch, its device.
    backend: str = "numba"
    torch_device: str = "cpu"

    def __init__(self, solver: NodalSolver, model: JunctionModel, options: HeldOptions) -> None:
        super().__init__(solver, model, options)
        self._engines: dict[tuple[int, ...] | None, object] = {}
        if self.backend == "torch":
            from nwphys.dynamics.batched import check_torch_device

            try:  # before anything runs, not at the first sample
                check_torch_device(self.torch_device)
            except ValidationError as exc:
                raise ValidationError(f"{exc}; method 'esdirk3-sn' runs the same scheme on the CPU") from None

    def engine(self, probe: np.ndarray | None):  # type: ignore[no-untyped-def]
        """The engine of this circuit reading ``probe`` (built once per set of probed nodes)."""
        from nwphys.dynamics.batched import BatchedEngine

        key = None if probe is None else tuple(int(p) for p in probe)
        if key not in self._engines:
            o = self.options
            self._engines[key] = BatchedEngine(
                self.circuit, self.model, driven=self.solver.driven, rtol=o.rtol, atol=o.atol,
                probe_nodes=probe, scheme=self.scheme, backend=self.backend, torch_device=self.torch_device,
            )
        return self._engines[key]

    def run(
        self, g: np.ndarray, driven_V: np.ndarray, dt_s: float, t0_s: float, probe: np.ndarray | None
    ) -> HeldRun:
        (r,) = self.engine(probe).run([driven_V], dt_s, g0=g, t0_s=t0_s)
        self.partial = (r.g_final, r.stats["n_samples"])
        if not r.ok:
            raise IntegrationError(r.message)
        return HeldRun(r.g_final, r.electrode_voltage_V, r.electrode_current_A, r.node_voltage_V, r.stats)


class BatchedEsdirkHeld(BatchedHeld):
    """``"esdirk3-sn"``: the same engine with its third-order ESDIRK scheme."""

    scheme = "esdirk3"


class BatchedEsdirkCudaHeld(BatchedEsdirkHeld):
    """``"esdirk3-cuda"``: the same scheme on the engine's torch path on a CUDA GPU, every series of
    a batch together (equal to ``"esdirk3-sn"`` to rounding while no step decision falls on the
    other side of a threshold)."""

    backend = "torch"
    torch_device = "cuda"
