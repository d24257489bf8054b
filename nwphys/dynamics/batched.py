"""Batched held-sample integration: many independent series through one circuit.

:class:`BatchedEngine` integrates a batch of series of held samples, each from its own initial
state, with one of two compiled schemes:

* ``"sdirk2"``: the stiff SDIRK2 scheme of :mod:`nwphys.dynamics.implicit` (the ``"sdirk2-sn"``
  method of :mod:`nwphys.dynamics.methods`);
* ``"esdirk3"``: a third-order ESDIRK with an embedded second-order estimate (the ``"esdirk3-sn"``
  method): fewer steps per sample at the same tolerance, with the same Newton, limiting and
  Kirchhoff rules.

Both are compiled in :mod:`nwphys.dynamics._sdirk_kernels`.

It is the engine of those methods and of :meth:`hardware.SimulatedDevice.apply_batch`.

What the series share and what they do not
-------------------------------------------
The series share only the circuit's analysis, built once per engine: a minimum-degree ordering of
the unknown node voltages (SuperLU's, as the ``"splu"`` nodal backend), the elimination tree and
the pattern of the factor, and the index maps from branch conductances to matrix entries. Each
series keeps its own state, its own step size and its own error control (exactly the rules of
:class:`~nwphys.dynamics.implicit.StiffIntegrator`), and its own numeric factorisations; a series that fails
(its step size falls below ``h_min_s``) is reported alone and leaves the others intact.

What makes it fast
------------------
* The whole series runs in compiled code (:mod:`nwphys.dynamics._sdirk_kernels`, numba): the per-call
  overhead of scipy's sparse dispatch and of one Python call per junction array, which dominates
  the one-series path on networks of a few hundred nodes, is gone.
* **Simplified Newton**: the Newton matrix is kept across iterations, stages, steps and samples
  and refactorised only when an iteration reduces the Kirchhoff residual by less than
  ``refactor_ratio`` (default 0.1); the error estimate's filter uses the factor at hand.
* **Newton stops where the states have converged**, as in Radau5: an inner stage stops once the
  estimated remaining change of every junction state is below 3 % of its error tolerance and
  its Kirchhoff residual is below ``kcl_inner_rtol`` (1e-4). The voltages that are read, at the
  end of every sample, still converge to ``kcl_rtol`` (1e-10).
* The sparse LDL^T factorisation and solves are compiled kernels on the fixed pattern
  (:mod:`nwphys.circuit._ldl_kernels`).

Scope
-----
The compiled kernels implement the rate-balance junction model (:class:`~nwphys.junctions.RateBalanceModel`,
parameters scalar or per junction); other models are refused with a message that names the
one-series method ``"sdirk2"``. Sources are held constant within each sample (what a
source-measure set-up and the reservoirs do).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nwphys._checks import check_finite_array, check_int, check_real
from nwphys.circuit.circuit import Circuit
from nwphys.circuit.nodal import NodalSolver
from nwphys.dynamics._sim_checks import check_nodes
from nwphys.errors import BudgetError, ValidationError
from nwphys.junctions import JunctionModel, RateBalanceModel

__all__ = [
    "DEFAULT_KCL_INNER_RTOL",
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_NEWTON_FRACTION",
    "DEFAULT_REFACTOR_RATIO",
    "DEFAULT_THETA_FLOOR",
    "SCHEMES",
    "BatchedEngine",
    "SeriesResult",
    "check_torch_device",
]

#: Default bound on the memory of one :meth:`BatchedEngine.run` (its inputs, readings and work
#: arrays), bytes. A batch above it is refused before anything is integrated; split it.
DEFAULT_MAX_BATCH_BYTES: int = 2 * 1024**3

#: Refactorise the Newton matrix when an iteration reduces the Kirchhoff residual by less than
#: this factor (simplified Newton's convergence-rate test).
DEFAULT_REFACTOR_RATIO: float = 0.1

#: Inner stages stop Newton when the estimated remaining change of every junction state,
#: ``max(theta, theta_floor) / (1 - theta)`` times the last correction, is at most this fraction of
#: its error tolerance ``atol + rtol |g|`` (``theta``: the last observed contraction of the
#: iteration), as Radau5 stops at ``fnewt`` = 0.03.
DEFAULT_NEWTON_FRACTION: float = 0.03

#: Smallest contraction factor assumed in that estimate: a quadratically converging iteration (a
#: fresh matrix) is not trusted below 0.1 per iteration.
DEFAULT_THETA_FLOOR: float = 0.1

#: Relative Kirchhoff residual every inner stage must have reached before Newton may stop
#: there, and that every accepted inner step's state and voltages satisfy (checked, and the step
#: retried with a fresh matrix and half the step when not). The read-out steps meet ``kcl_rtol``.
DEFAULT_KCL_INNER_RTOL: float = 1e-4

#: The compiled schemes: name -> (registered method name, order of the method).
SCHEMES: dict[str, tuple[str, int]] = {"sdirk2": ("sdirk2-sn", 2), "esdirk3": ("esdirk3-sn", 3)}

_STAT_NAMES = ("n_steps", "n_rejected", "n_factor", "n_newton", "n_solves", "n_limited", "n_samples")


def check_torch_device(device: str) -> str:
    """``device`` if torch can place tensors there; a CUDA device must be available.

    Raises
    ------
    ValidationError
        An unknown device string, or a CUDA device where torch finds none.
    """
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValidationError(
            f"torch_device must be a torch device such as 'cpu' or 'cuda', got {device!r}"
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValidationError(
            f"torch_device={device!r}, but torch finds no CUDA device (torch.cuda.is_available() is False)"
        )
    return str(device)


@dataclass(frozen=True)
class SeriesResult:
    """What one series of a batch gave (readings at the end of every recorded sample).

    Attributes
    ----------
    ok : bool
        Whether the series was integrated to its end.
    message : str
        Empty on success, else why the series stopped (its readings are then NaN from that
        sample on).
    electrode_voltage_V : ndarray, shape (n_recorded, n_electrodes)
    electrode_current_A : ndarray, shape (n_recorded, n_electrodes)
        Current from each source into the network (0 for floating electrodes).
    node_voltage_V : ndarray, shape (n_recorded, n_probe) or None
    g_final : ndarray, shape (n_junctions,)
        Junction state after the last sample (of the last completed one on failure).
    g : ndarray, shape (n_recorded, n_junctions) or None
        Junction states at every recorded sample (``keep_states=True`` only).
    stats : dict of str to int
        ``n_steps``, ``n_rejected``, ``n_factor`` (numeric factorisations), ``n_newton`` (Newton
        iterations), ``n_solves`` (triangular solve pairs), ``n_limited``, ``n_samples`` (samples
        completed).
    g_min, g_max : float
        Smallest and largest junction state at any accepted step.
    kcl_max : float
        Largest relative Kirchhoff residual of the read voltages (the last step of every sample).
    kcl_inner_max : float
        Largest relative Kirchhoff residual of the state and voltages of any other accepted step.
    """

    ok: bool
    message: str
    electrode_voltage_V: np.ndarray
    electrode_current_A: np.ndarray
    node_voltage_V: np.ndarray | None
    g_final: np.ndarray
    g: np.ndarray | None = None
    stats: dict[str, int] = field(default_factory=dict)
    g_min: float = np.nan
    g_max: float = np.nan
    kcl_max: float = np.nan
    kcl_inner_max: float = np.nan


def _params(model: RateBalanceModel, nj: int) -> tuple[np.ndarray, ...]:
    p = model.params
    out = []
    for k in ("kp0_per_s", "kd0_per_s", "eta_p_per_V", "eta_d_per_V", "G_min_S", "G_max_S"):
        out.append(np.ascontiguousarray(np.broadcast_to(np.asarray(p[k], dtype=float), (nj,))))
    kp0, kd0, ep, ed, gmin, gmax = out
    return kp0, kd0, ep, ed, gmin, np.ascontiguousarray(gmax - gmin)


def _topology(circuit: Circuit, driven: tuple[str, ...], probe: np.ndarray) -> tuple[Any, tuple[str, ...]]:
    """The kernel's index arrays for ``circuit`` with ``driven`` electrodes (see
    :data:`nwphys.dynamics._sdirk_kernels.Topology`)."""
    from nwphys.circuit import _ldl_kernels
    from nwphys.dynamics import _sdirk_kernels
    # the solver checks the electrodes and the connectivity, and orders the unknowns
    solver = NodalSolver(circuit, driven=driven, backend="splu")
    n_nodes = circuit.n_nodes
    unk_nodes = np.asarray(solver.unknown_nodes, dtype=np.int64)
    n = unk_nodes.size
    uidx = np.full(n_nodes, -1, dtype=np.int64)
    uidx[unk_nodes] = np.arange(n)
    rs = circuit.series_resistance_ohm
    d_elec = np.asarray(solver.driven_index, dtype=np.int64)
    d_pos = np.arange(d_elec.size)
    is_dir = rs[d_elec] == 0.0
    dir_nodes = circuit.electrode_node[d_elec[is_dir]].astype(np.int64)
    dir_pos = d_pos[is_dir].astype(np.int64)
    nor_nodes = circuit.electrode_node[d_elec[~is_dir]].astype(np.int64)
    nor_pos = d_pos[~is_dir].astype(np.int64)
    nor_g = 1.0 / rs[d_elec[~is_dir]]
    branches = np.concatenate([circuit.edges, circuit.fixed_edges], axis=0).astype(np.int64)
    ba, bb = branches[:, 0].copy(), branches[:, 1].copy()
    ua, ub = uidx[ba], uidx[bb]
    # upper-triangle CSC pattern: every diagonal entry, and (min, max) of every branch between unknowns
    both = (ua >= 0) & (ub >= 0) & (ua != ub)
    rows = np.concatenate([np.arange(n), np.minimum(ua, ub)[both]])
    cols = np.concatenate([np.arange(n), np.maximum(ua, ub)[both]])
    key = np.unique(cols * max(n, 1) + rows)
    Ucol, Urow = key // max(n, 1), key % max(n, 1)
    Up = np.zeros(n + 1, dtype=np.int64)
    np.add.at(Up, Ucol + 1, 1)
    Up = np.cumsum(Up).astype(np.int64)
    Ui = Urow.astype(np.int64)

    def pos(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        out = np.searchsorted(key, c * max(n, 1) + r)
        return out.astype(np.int64)

    # absent entries point to one spare slot past the end (never read), so the kernels need no branches
    nnz = key.size
    pos_a = np.where(ua >= 0, pos(np.maximum(ua, 0), np.maximum(ua, 0)), nnz).astype(np.int64)
    pos_b = np.where(ub >= 0, pos(np.maximum(ub, 0), np.maximum(ub, 0)), nnz).astype(np.int64)
    pos_o = np.where(both, pos(np.minimum(ua, ub).clip(0), np.maximum(ua, ub).clip(0)), nnz).astype(np.int64)
    nor_u = uidx[nor_nodes]
    nor_diag = pos(nor_u, nor_u) if nor_u.size else np.zeros(0, dtype=np.int64)
    Lp, parent = _ldl_kernels.ldl_symbolic(n, Up, Ui)
    Li, Rp, Rc, Rq = _ldl_kernels.ldl_schedule(n, Up, Ui, Lp, parent)
    # the Dirichlet electrodes at the ends of every branch (their currents into the network)
    elec_node = circuit.electrode_node.astype(np.int64)
    dir_elec_of_node = np.full(n_nodes, -1, dtype=np.int64)
    dir_elec_of_node[dir_nodes] = d_elec[is_dir]
    elec_nor = np.full(circuit.n_electrodes, -1, dtype=np.int64)
    elec_nor[d_elec[~is_dir]] = np.arange(nor_nodes.size)
    top = _sdirk_kernels.Topology(
        n=n,
        n_nodes=n_nodes,
        nj=circuit.n_junctions,
        ba=ba,
        bb=bb,
        ua=np.where(ua >= 0, ua, n).astype(np.int64),
        ub=np.where(ub >= 0, ub, n).astype(np.int64),
        gfix=np.ascontiguousarray(circuit.fixed_conductance_S, dtype=float),
        unk_nodes=unk_nodes,
        dir_nodes=dir_nodes,
        dir_pos=dir_pos,
        nor_u=nor_u.astype(np.int64),
        nor_nodes=nor_nodes,
        nor_pos=nor_pos,
        nor_g=np.ascontiguousarray(nor_g, dtype=float),
        nor_diag=np.asarray(nor_diag, dtype=np.int64),
        Up=Up,
        Ui=Ui,
        pos_a=pos_a,
        pos_b=pos_b,
        pos_o=pos_o,
        Lp=Lp,
        Li=Li,
        Rp=Rp,
        Rc=Rc,
        Rq=Rq,
        elec_node=elec_node,
        br_ea=dir_elec_of_node[ba],
        br_eb=dir_elec_of_node[bb],
        src_br=np.flatnonzero((dir_elec_of_node[ba] >= 0) | (dir_elec_of_node[bb] >= 0)).astype(np.int64),
        elec_nor=elec_nor,
        probe=probe,
    )
    return top, solver.driven


class BatchedEngine:
    """Integrate batches of independent held-sample series through one circuit (see the module notes).

    Parameters
    ----------
    circuit : Circuit
    model : RateBalanceModel
        Junction model (scalar or per-junction parameters).
    driven : sequence of str
        Electrodes held at a voltage, in the column order of the drives.
    rtol, atol : float
        Tolerances of the local error of every junction state (as ``"sdirk2"``).
    kcl_rtol : float
        Relative Kirchhoff residual of the voltages read at the end of every sample (default
        1e-10): under ``"sdirk2"`` the second stage of the last step of each sample iterates until
        it holds; ``"esdirk3"`` solves the read voltages afresh at the accepted state and checks it.
    max_newton : int
        Newton iterations per stage before the step is retried with ``h / 4``.
    h_min_s : float
        Smallest step in seconds; a series whose step falls below it stops with a message.
    kcl_inner_rtol : float
        Kirchhoff tolerance of the inner (not read) steps, in [kcl_rtol, 1e-2]; see
        :data:`DEFAULT_KCL_INNER_RTOL`.
    refactor_ratio : float
        Simplified Newton's rate test, in (0, 1): refactorise when one iteration reduces the
        residual by less than this factor.
    newton_fraction, theta_floor : float
        Newton's stopping test on the inner stages (see :data:`DEFAULT_NEWTON_FRACTION`).
    probe_nodes : sequence of int, optional
        Nodes whose voltages are read at every recorded sample.
    max_batch_bytes : int
        Memory bound of one :meth:`run` (see :data:`DEFAULT_MAX_BATCH_BYTES`).
    scheme : {"sdirk2", "esdirk3"}
        The integration scheme (see the module notes and :data:`SCHEMES`).
    backend : {"numba", "torch"}
        ``"numba"``: the compiled kernel, series after series on one core (sparse LDL^T).
        ``"torch"``: every series of the batch advances together on ``torch_device`` with dense
        batched Cholesky (:mod:`nwphys.dynamics._torch_engine`), for GPUs; float64; either scheme.
    torch_device : str
        Torch device of the ``"torch"`` backend (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...); a CUDA
        device must be available.

    Raises
    ------
    ValidationError
        A model other than the rate balance, bad tolerances, or unknown electrodes.
    SolverError
        Nodes not connected to any driven electrode.
    """

    def __init__(
        self,
        circuit: Circuit,
        model: JunctionModel,
        *,
        driven: Sequence[str],
        rtol: float,
        atol: float,
        kcl_rtol: float = 1e-10,
        max_newton: int = 10,
        h_min_s: float = 1e-18,
        refactor_ratio: float = DEFAULT_REFACTOR_RATIO,
        newton_fraction: float = DEFAULT_NEWTON_FRACTION,
        theta_floor: float = DEFAULT_THETA_FLOOR,
        kcl_inner_rtol: float = DEFAULT_KCL_INNER_RTOL,
        probe_nodes: Sequence[int] | None = None,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        scheme: str = "sdirk2",
        backend: str = "numba",
        torch_device: str = "cpu",
    ) -> None:
        if not isinstance(circuit, Circuit):
            raise ValidationError(f"circuit must be an nwphys.Circuit, got {type(circuit).__name__}")
        if getattr(model, "stochastic", False):
            raise ValidationError(
                f"the batched engine integrates deterministic junctions; {model.name!r} is stochastic "
                "(integrate its drift_model() between noise increments, as SimulatedDevice does)"
            )
        if type(model) is not RateBalanceModel:
            # the kernels evaluate the rate-balance law themselves: a subclass's own law would be ignored
            raise ValidationError(
                f"the batched engine implements the rate_balance junction model; got "
                f"{getattr(model, 'name', type(model).__name__)!r} (use method='sdirk2')"
            )
        self.circuit = circuit
        self.model = model
        self.rtol = check_real("rtol", rtol, low=0.0, low_open=True, high=1.0)
        self.atol = check_real("atol", atol, low=0.0, low_open=True)
        self.kcl_rtol = check_real("kcl_rtol", kcl_rtol, low=0.0, low_open=True, high=1e-3)
        self.max_newton = check_int("max_newton", max_newton, low=1)
        self.h_min_s = check_real("h_min_s", h_min_s, low=0.0, low_open=True)
        self.refactor_ratio = check_real(
            "refactor_ratio", refactor_ratio, low=0.0, low_open=True, high=1.0, high_open=True
        )
        self.newton_fraction = check_real(
            "newton_fraction", newton_fraction, low=0.0, low_open=True, high=1.0, high_open=True
        )
        self.theta_floor = check_real("theta_floor", theta_floor, low=0.0, low_open=True, high=1.0)
        self.kcl_inner_rtol = check_real("kcl_inner_rtol", kcl_inner_rtol, low=self.kcl_rtol, high=1e-2)
        self.max_batch_bytes = max_batch_bytes
        if backend not in ("numba", "torch"):
            raise ValidationError(f"backend must be 'numba' or 'torch', got {backend!r}")
        if scheme not in SCHEMES:
            raise ValidationError(f"scheme must be one of {', '.join(map(repr, SCHEMES))}, got {scheme!r}")
        self.scheme = scheme
        self.backend = backend
        self.torch_device = str(torch_device)
        if backend == "torch":
            try:
                check_torch_device(self.torch_device)
            except ValidationError as exc:
                raise ValidationError(f"{exc}; backend='numba' runs the same scheme on the CPU") from None
        probe = check_nodes(probe_nodes, circuit.n_nodes)
        self._probe = np.zeros(0, dtype=np.int64) if probe is None else np.asarray(probe, dtype=np.int64)
        self._has_probe = probe is not None
        self._top, self.driven = _topology(circuit, tuple(driven), self._probe)
        self._par = _params(model, circuit.n_junctions)

    @property
    def max_batch_bytes(self) -> int:
        """Bound on the estimated memory of one :meth:`run`, bytes (>= 1); a batch above it is refused."""
        return self._max_batch_bytes

    @max_batch_bytes.setter
    def max_batch_bytes(self, value: int) -> None:
        self._max_batch_bytes = check_int("max_batch_bytes", value, low=1)

    @property
    def n_driven(self) -> int:
        """Number of driven electrodes (columns of every drive)."""
        return len(self.driven)

    def estimate_bytes(self, n_samples: Sequence[int], *, keep_states: bool = False) -> int:
        """Memory of a :meth:`run` over series of ``n_samples`` held samples each, bytes (inputs,
        readings, states and the work arrays of one series; under ``backend="torch"``, every
        series' tensors at once, padded to the longest).

        Parameters
        ----------
        n_samples : sequence of int
            Held samples of every series of the batch (>= 0 each).
        keep_states : bool
            Whether the junction states of every recorded sample are kept.

        Returns
        -------
        int
            Estimated bytes. Not additive over series under ``backend="torch"``: estimate a
            candidate batch as a whole.
        """
        n_samples = [check_int(f"n_samples[{b}]", t, low=0) for b, t in enumerate(n_samples)]
        top = self._top
        ne = top.elec_node.size
        per_sample = 8 * (self.n_driven + 2 * ne + self._probe.size + 2 + (top.nj if keep_states else 0))
        total = sum(n_samples) * per_sample
        total += len(n_samples) * 8 * 2 * top.nj
        work = 8 * (top.Lp[-1] * 2 + top.Ui.size + 12 * top.nj + 20 * top.n + top.n_nodes)
        if self.backend == "torch" and n_samples:
            # every series at once: dense Newton matrices, their factors and the temporaries of
            # assembling and factorising them (eight n x n in all), the padded drives and
            # readings, and the junction-sized tensors of the stages. Measured on a CPU (peak
            # resident growth, default reservoir device): 5.2-5.3 MiB per series; this gives 6.5
            B, T = len(n_samples), max(n_samples)
            n = top.n + 1
            total += B * 8 * (8 * n * n + 60 * top.nj + 20 * n + T * per_sample // 8)
        return int(total + work)

    def run(
        self,
        driven_V: Sequence[np.ndarray] | np.ndarray,
        dt_s: float | Sequence[np.ndarray],
        *,
        g0: np.ndarray | None = None,
        record: Sequence[np.ndarray] | None = None,
        t0_s: float = 0.0,
        keep_states: bool = False,
    ) -> list[SeriesResult]:
        """Integrate every series of the batch from its initial state.

        Parameters
        ----------
        driven_V : sequence of ndarray of shape (n_samples_b, n_driven), or ndarray (B, n_samples, n_driven)
            Source voltages of every held sample of every series (volts); series may differ in length.
        dt_s : float, or sequence of ndarray of shape (n_samples_b,)
            Hold time of every sample in seconds (> 0): one for all, or per sample of every series.
        g0 : ndarray, shape (n_junctions,) or (B, n_junctions), optional
            Initial state: shared, or one per series (inside [0, 1]); default the model's resting
            state.
        record : sequence of ndarray of bool, shape (n_samples_b,), optional
            Which samples are read (default every one).
        t0_s : float
            Time of the first sample of every series, seconds (used in messages only).
        keep_states : bool
            Also return the junction states at every recorded sample (``SeriesResult.g``).

        Returns
        -------
        list of SeriesResult
            One per series, in order.

        Raises
        ------
        ValidationError
            Bad shapes or values.
        BudgetError
            The batch's estimated memory exceeds ``max_batch_bytes``.
        """
        from nwphys.dynamics import _sdirk_kernels as K
        drives = [check_finite_array("driven_V", d) for d in driven_V]
        B = len(drives)
        nd, nj = self.n_driven, self.circuit.n_junctions
        for b, d in enumerate(drives):
            if d.ndim != 2 or d.shape[1] != nd or d.shape[0] < 1:
                raise ValidationError(
                    f"driven_V[{b}] must have shape (n_samples >= 1, {nd}) (driven: "
                    f"{', '.join(self.driven)}), got {d.shape}"
                )
        if isinstance(dt_s, (numbers.Real, np.ndarray)) and np.ndim(dt_s) == 0:
            dt = check_real("dt_s", dt_s, low=0.0, low_open=True)
            dts = [np.full(d.shape[0], dt) for d in drives]
        else:
            dts = [check_finite_array(f"dt_s[{b}]", x, ndim=1) for b, x in enumerate(dt_s)]  # type: ignore[union-attr]
            if len(dts) != B or any(x.shape[0] != d.shape[0] for x, d in zip(dts, drives, strict=True)):
                raise ValidationError(
                    f"dt_s must give one hold time per sample of every series (shapes "
                    f"{[d.shape[0] for d in drives]}), got {len(dts)} series of {[x.shape[0] for x in dts]}"
                )
            for b, x in enumerate(dts):
                if np.any(x <= 0):
                    raise ValidationError(f"dt_s[{b}] must be > 0 s for every sample, got min {x.min()!r}")
        if record is None:
            recs = [np.ones(d.shape[0], dtype=bool) for d in drives]
        else:
            recs = [np.asarray(r) for r in record]
            for b, r in enumerate(recs):
                if r.dtype != np.bool_ or r.ndim != 1:
                    raise ValidationError(
                        f"record[{b}] must be a 1-D array of bool, got dtype {r.dtype} and shape {r.shape}"
                    )
            if len(recs) != B or any(r.shape[0] != d.shape[0] for r, d in zip(recs, drives, strict=True)):
                raise ValidationError("record must give one flag per sample of every series")
        t0_s = check_real("t0_s", t0_s)
        if B == 0:
            return []
        g = self.model.resting_state(nj) if g0 is None else check_finite_array("g0", g0)
        if g.shape == (nj,):
            g = np.broadcast_to(g, (B, nj))
        if g.shape != (B, nj):
            raise ValidationError(f"g0 must have shape ({nj},) or ({B}, {nj}), got {g.shape}")
        if np.any((g < 0.0) | (g > 1.0)):
            raise ValidationError("g0 must lie in [0, 1] (the rate-balance state bounds)")
        need = self.estimate_bytes([d.shape[0] for d in drives], keep_states=keep_states)
        if need > self.max_batch_bytes:
            raise BudgetError(
                f"the batch of {B} series needs about {need / 1024**2:.0f} MiB, above "
                f"max_batch_bytes={self.max_batch_bytes / 1024**2:.0f} MiB; split it"
            )
        top, ne = self._top, self.circuit.n_electrodes
        if self.backend == "torch":
            from nwphys.dynamics._torch_engine import TorchRun

            raw = TorchRun(self, self.torch_device, SCHEMES[self.scheme][1]).run(
                drives, dts, recs, np.asarray(g, dtype=float), keep_states
            )
            return [
                self._result(code, oV, oI, oP, oG, g_out, stats, info, t0_s, keep_states)
                for code, oV, oI, oP, oG, g_out, stats, info in raw
            ]
        out: list[SeriesResult] = []
        for b in range(B):
            n_rec = int(recs[b].sum())
            oV = np.full((n_rec, ne), np.nan)
            oI = np.full((n_rec, ne), np.nan)
            oP = np.full((n_rec, self._probe.size), np.nan)
            oG = np.full((n_rec if keep_states else 0, nj), np.nan)
            g_out = np.array(g[b], dtype=float)
            stats = np.zeros(K.N_STATS, dtype=np.int64)
            info = np.zeros(K.N_INFO)
            code = K.run_series(
                top,
                *self._par,
                self.rtol,
                self.atol,
                self.kcl_rtol,
                self.max_newton,
                self.h_min_s,
                self.refactor_ratio,
                self.newton_fraction,
                self.theta_floor,
                self.kcl_inner_rtol,
                np.ascontiguousarray(g[b], dtype=float),
                np.ascontiguousarray(drives[b], dtype=float),
                np.ascontiguousarray(dts[b], dtype=float),
                np.ascontiguousarray(recs[b]),
                oV,
                oI,
                oP,
                oG,
                g_out,
                stats,
                info,
                SCHEMES[self.scheme][1],
            )
            out.append(self._result(code, oV, oI, oP, oG, g_out, stats, info, t0_s, keep_states))
        return out

    def _result(
        self,
        code: int,
        oV: np.ndarray,
        oI: np.ndarray,
        oP: np.ndarray,
        oG: np.ndarray,
        g_out: np.ndarray,
        stats: np.ndarray,
        info: np.ndarray,
        t0_s: float,
        keep_states: bool,
    ) -> SeriesResult:
        from nwphys.dynamics import _sdirk_kernels as K
        return SeriesResult(
            ok=code == 0,
            message=self._message(code, info, t0_s),
            electrode_voltage_V=oV,
            electrode_current_A=oI,
            node_voltage_V=oP if self._has_probe else None,
            g_final=g_out,
            g=oG if keep_states else None,
            stats=dict(zip(_STAT_NAMES, (int(v) for v in stats), strict=True)),
            g_min=float(info[K.I_G_MIN]),
            g_max=float(info[K.I_G_MAX]),
            kcl_max=float(info[K.I_KCL_MAX]),
            kcl_inner_max=float(info[K.I_KCL_INNER]),
        )

    def _message(self, code: int, info: np.ndarray, t0_s: float) -> str:
        from nwphys.dynamics import _sdirk_kernels as K
        if code == 0:
            return ""
        if code == 2:
            return f"nodal factorisation failed (a non-positive pivot) at t={t0_s + info[K.I_T]:.9g} s"
        why = (
            f"Newton on the node voltages did not reach the Kirchhoff tolerance "
            f"kcl_rtol={self.kcl_rtol:g} within {self.max_newton} iterations"
            if info[K.I_NEWTON_FAILED]
            else f"error ratio {info[K.I_WORST_RATIO]:.3g} at junction {int(info[K.I_WORST_K])}"
        )
        return (
            f"{SCHEMES[self.scheme][0]} step size {info[K.I_H]:.3g} s fell below "
            f"h_min_s={self.h_min_s:.3g} s at "
            f"t={t0_s + info[K.I_T]:.9g} s (rtol={self.rtol:g}, atol={self.atol:g}; "
            f"last rejected step: {why})"
        )
