"""Nodal analysis of a :class:`~nwphys.circuit.circuit.Circuit`: one sparse solve per set of conductances.

Formulation
-----------
Every branch (memristive junction or fixed resistor) ``k`` between nodes ``a`` and ``b`` with
conductance ``G_k`` contributes to the graph Laplacian ``L``. Electrodes are of three kinds:

* **Dirichlet** -- driven, with zero series resistance: the node voltage is known and the node is
  eliminated from the unknowns (its coupling moves to the right-hand side).
* **Norton** -- driven through a series resistance ``R_s > 0``: the source ``V_s`` behind ``R_s`` is
  replaced by its Norton equivalent, a conductance ``1/R_s`` to ground on the diagonal and an
  injected current ``V_s / R_s`` on the right-hand side. The node stays an unknown.
* **floating** -- not driven: an ordinary node with zero net injected current; its voltage is an
  output.

The reduced system ``A x = b`` over the non-Dirichlet nodes is symmetric positive definite when
every node is connected (through branches) to at least one driven electrode; otherwise it is
singular and :class:`NodalSolver` raises :class:`~nwphys.errors.SolverError` at construction.

The sparsity pattern depends only on the circuit and the set of driven electrodes, so it is built
once (:mod:`nwphys.circuit._pattern`). The matrix values are ``data = M @ G + const`` with a fixed
sparse map ``M``, and each solve redoes only the numeric work of the chosen backend, one small
class each in :mod:`nwphys.circuit._backends`:

``"auto"`` (default)
    ``"qdldl"`` when importable (it is a dependency of the package, so this is the backend of a
    normal installation), else ``"splu"``. Results of the two agree to rounding (~1e-14
    relative).
``"qdldl"``
    The ``qdldl`` package (PyPI): AMD ordering and elimination tree computed once, numeric
    LDL^T refactorisation on each solve (``Solver.update``). The fastest measured.
``"splu"`` (numpy/scipy only)
    A fill-reducing ordering (SuperLU's minimum degree on ``A^T + A``) is computed once at
    construction and the unknowns are renumbered with it; each solve calls
    :func:`scipy.sparse.linalg.splu` with ``permc_spec="NATURAL"``, ``diag_pivot_thresh=0`` and
    ``SymmetricMode`` (no pivoting is needed for an SPD matrix). SuperLU still redoes its (cheap)
    symbolic pass on every call: scipy exposes no numeric-only refactorisation.
``"cg"``
    Jacobi-preconditioned conjugate gradients warm-started from the previous solution
    (relative residual ``cg_rtol``). Fast when conductances change little between solves.
``"cholmod"``
    scikit-sparse's CHOLMOD when importable: symbolic analysis once, a numeric ``cholesky`` per
    solve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from nwphys._checks import check_choice, check_real
from nwphys.circuit._backends import BACKENDS, BackendOptions, Factorization, NodalBackend
from nwphys.circuit._kirchhoff import KirchhoffResidual
from nwphys.circuit._pattern import NodalPattern, build_pattern
from nwphys.circuit.circuit import Circuit
from nwphys.errors import SolverError, ValidationError

__all__ = ["NODAL_BACKENDS", "NodalSolution", "NodalSolver", "available_backends"]

#: Names accepted by ``NodalSolver(backend=...)``.
NODAL_BACKENDS: tuple[str, ...] = ("auto", *BACKENDS)


def available_backends() -> tuple[str, ...]:
    """Return the concrete backends usable in this environment (``splu`` and ``cg`` always)."""
    return tuple(name for name, cls in BACKENDS.items() if cls.available())


@dataclass(frozen=True)
class NodalSolution:
    """Result of one nodal solve.

    Attributes
    ----------
    node_voltage_V : ndarray, shape (n_nodes,)
        Voltage of every node (electrode nodes included).
    junction_voltage_V : ndarray, shape (n_junctions,)
        ``V[edges[:, 0]] - V[edges[:, 1]]``.
    junction_current_A : ndarray, shape (n_junctions,)
        Current through each junction from ``edges[:, 0]`` to ``edges[:, 1]``.
    electrode_voltage_V : ndarray, shape (n_electrodes,)
        Voltage of each electrode node (for a driven electrode with series resistance this is the
        node voltage, not the source voltage).
    electrode_current_A : ndarray, shape (n_electrodes,)
        Current from each source into the network (0 for floating electrodes).
    residual_rel : float
        Relative Kirchhoff current residual: the 2-norm of the current imbalance at every
        non-Dirichlet node divided by the 2-norm of the per-node sum of absolute branch currents
        (0 when no current flows).
    """

    node_voltage_V: np.ndarray
    junction_voltage_V: np.ndarray
    junction_current_A: np.ndarray
    electrode_voltage_V: np.ndarray
    electrode_current_A: np.ndarray
    residual_rel: float


class NodalSolver:
    """Reusable sparse nodal solver for one circuit and one choice of driven electrodes.

    Parameters
    ----------
    circuit : Circuit
        The electrical network.
    driven : sequence of str or None
        Names of the electrodes held at a voltage by a source (a ground is an electrode driven at
        0 V). Every other electrode floats (zero net current). None drives every electrode.
    backend : {"auto", "qdldl", "splu", "cg", "cholmod"}
        Linear-solver backend (see the module docstring); ``"auto"`` is ``"qdldl"`` when it is
        importable, else ``"splu"``. The attribute ``backend`` holds the resolved name.
    cg_rtol : float
        Relative residual target of the ``"cg"`` backend.
    cg_maxiter : int
        Iteration cap of the ``"cg"`` backend (exceeding it raises :class:`SolverError`).

    Raises
    ------
    SolverError
        If some nodes are not connected to any driven electrode (the system would be singular),
        or if a requested optional backend is not importable.
    ValidationError
        For unknown or repeated electrode names or an unknown backend.
    """

    def __init__(
        self,
        circuit: Circuit,
        *,
        driven: Sequence[str] | None = None,
        backend: str = "auto",
        cg_rtol: float = 1e-13,
        cg_maxiter: int = 10_000,
    ) -> None:
        if not isinstance(circuit, Circuit):
            raise ValidationError(f"circuit must be an nwphys.Circuit, got {type(circuit).__name__}")
        check_choice("backend", backend, NODAL_BACKENDS)
        self.circuit = circuit
        self.cg_rtol = check_real("cg_rtol", cg_rtol, low=0.0, low_open=True, high=1.0)
        self.cg_maxiter = int(cg_maxiter)
        names = circuit.electrode_names if driven is None else tuple(driven)
        if isinstance(driven, str):
            raise ValidationError(f"driven must be a sequence of electrode names, got the string {driven!r}")
        if len(set(names)) != len(names):
            raise ValidationError(f"driven must not repeat an electrode, got {names!r}")
        self.driven: tuple[str, ...] = tuple(str(n) for n in names)
        self.driven_index = np.array([circuit.electrode_index(n) for n in self.driven], dtype=np.int64)
        usable = available_backends()
        if backend == "auto":
            backend = "qdldl" if "qdldl" in usable else "splu"
        if backend not in usable:
            raise SolverError(
                f"nodal backend {backend!r} is not importable here; available: "
                f"{', '.join(usable)} (qdldl: pip install qdldl; "
                "cholmod: pip install scikit-sparse)"
            )
        self.backend = backend
        self.n_solves = 0
        self._linear: NodalBackend | None = None  # None when every node is a Dirichlet electrode
        self._factor: Factorization | None = None
        self._kcl: KirchhoffResidual | None = None  # built by the first solve()
        self._build()

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        c = self.circuit
        n = c.n_nodes
        rs = c.series_resistance_ohm
        d_elec = self.driven_index
        dirichlet = d_elec[rs[d_elec] == 0.0]
        norton = d_elec[rs[d_elec] > 0.0]
        is_dir = np.zeros(n, dtype=bool)
        is_dir[c.electrode_node[dirichlet]] = True
        self._dir_pos = np.flatnonzero(rs[d_elec] == 0.0)  # positions in driven_V
        self._nor_pos = np.flatnonzero(rs[d_elec] > 0.0)
        self._dir_nodes = c.electrode_node[dirichlet]
        self._nor_nodes = c.electrode_node[norton]
        self._nor_G = 1.0 / rs[norton]
        self._dir_e = self.driven_index[self._dir_pos]
        self._nor_e = self.driven_index[self._nor_pos]

        branches = np.concatenate([c.edges, c.fixed_edges], axis=0)
        self._a = branches[:, 0].copy()
        self._b = branches[:, 1].copy()
        self._n_j = c.n_junctions
        self._G_fixed = c.fixed_conductance_S

        # singularity: every connected component must contain a driven electrode
        nb = branches.shape[0]
        adj = sp.coo_matrix((np.ones(nb), (self._a, self._b)), shape=(n, n))
        n_comp, label = connected_components(adj, directed=False)
        anchored = np.zeros(n_comp, dtype=bool)
        anchored[label[c.electrode_node[d_elec]]] = True
        bad = ~anchored[label]
        if np.any(bad):
            raise SolverError(
                f"{int(bad.sum())} of {n} nodes are not connected to any driven electrode "
                f"(driven: {', '.join(self.driven) or 'none'}); the nodal matrix would be singular"
            )

        unknown = np.flatnonzero(~is_dir)
        self._unknown = unknown
        nu = unknown.size
        self._nu = nu
        uidx = np.full(n, -1, dtype=np.int64)
        uidx[unknown] = np.arange(nu)
        self._perm = np.arange(nu)
        self._pat = self._pattern(uidx, branches)
        if nu == 0:
            return
        cls = BACKENDS[self.backend]
        # a fill-reducing ordering, computed once on a representative matrix, renumbers the unknowns
        order = cls.ordering(self._pat) if nu > 1 else None
        if order is not None:
            self._perm = order  # order[new] = old unknown index
            new_of_old = np.empty(nu, dtype=np.int64)
            new_of_old[order] = np.arange(nu)
            self._pat = self._pattern(np.where(uidx >= 0, new_of_old[np.maximum(uidx, 0)], -1), branches)
        self._linear = cls(self._pat, BackendOptions(cg_rtol=self.cg_rtol, cg_maxiter=self.cg_maxiter))

    def _pattern(self, uidx: np.ndarray, branches: np.ndarray) -> NodalPattern:
        return build_pattern(
            uidx,
            branches,
            n_nodes=self.circuit.n_nodes,
            dir_nodes=self._dir_nodes,
            nor_nodes=self._nor_nodes,
            nor_G=self._nor_G,
        )

    # ------------------------------------------------------------------ solving
    @property
    def n_driven(self) -> int:
        """Number of driven electrodes (length of ``driven_V``)."""
        return int(self.driven_index.size)

    def _check(self, G_S: np.ndarray, driven_V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        G = np.asarray(G_S, dtype=float)
        if G.shape != (self._n_j,):
            raise ValidationError(f"G_S must have shape ({self._n_j},), got {G.shape}")
        if not np.all(np.isfinite(G)) or not np.all(G > 0):
            j = int(np.flatnonzero(~(np.isfinite(G) & (G > 0)))[0])
            raise ValidationError(f"G_S must be finite and > 0 S, got {float(G[j])!r} at junction {j}")
        V = (
            np.asarray(driven_V, dtype=float).reshape(-1)
            if np.ndim(driven_V)
            else np.full(1, float(driven_V))
        )
        if V.shape != (self.n_driven,):
            raise ValidationError(
                f"driven_V must have shape ({self.n_driven},) "
                f"(driven: {', '.join(self.driven)}), got {V.shape}"
            )
        if not np.all(np.isfinite(V)):
            raise ValidationError(f"driven_V must be finite, got {V!r}")
        return G, V

    def node_voltages(self, G_S: np.ndarray, driven_V: np.ndarray) -> np.ndarray:
        """Return the node voltages (n_nodes,) in volts; unchecked fast path of :meth:`solve`.

        ``G_S`` must be a float array of shape (n_junctions,) with positive finite values and
        ``driven_V`` a float array of shape (n_driven,); no validation is done here.
        """
        p = self.branch_conductances(G_S)
        if self._nu == 0:
            self.n_solves += 1
            return self.expand(np.zeros(0), driven_V)
        self.factorize(p)
        x = self.solve_factored(self.reduced_rhs(p, driven_V))
        if not np.isfinite(x).all():
            raise SolverError(f"nodal solve ({self.backend}) returned non-finite node voltages")
        return self.expand(x, driven_V)

    # ------------------------------------------------------------------ building blocks
    # The integrators use these to run Newton iterations on the same pattern and factorisation:
    # ``x`` is the vector of unknown node voltages in the solver's internal order.
    @property
    def n_unknowns(self) -> int:
        """Number of unknown node voltages (nodes that are not Dirichlet electrodes)."""
        return int(self._nu)

    @property
    def unknown_nodes(self) -> np.ndarray:
        """Node index of each entry of the unknown vector ``x``, shape (n_unknowns,)."""
        return self._unknown[self._perm]

    @property
    def norton_nodes(self) -> np.ndarray:
        """Node of each source driven through a series resistance, shape (n_norton,).

        These nodes stay unknowns; :meth:`norton_currents` gives the current each source injects.
        """
        return self._nor_nodes

    def norton_currents(self, driven_V: np.ndarray, node_voltage_V: np.ndarray) -> np.ndarray:
        """Current in amperes from each series-resistance source into its node, shape (n_norton,).

        ``(V_s - V_node) / R_s`` for the sources ``driven_V`` (shape (n_driven,), volts) and the
        node voltages ``node_voltage_V`` (shape (n_nodes,), volts), in the order of
        :attr:`norton_nodes`. Unchecked fast path.
        """
        return self._nor_G * (driven_V[self._nor_pos] - node_voltage_V[self._nor_nodes])

    def branch_conductances(self, G_S: np.ndarray) -> np.ndarray:
        """All branch conductances (junctions, then fixed elements), shape (n_branches,), siemens."""
        return np.concatenate([G_S, self._G_fixed]) if self._G_fixed.size else G_S

    def reduced_rhs(self, p_S: np.ndarray, driven_V: np.ndarray) -> np.ndarray:
        """Right-hand side of the reduced system for branch conductances ``p_S``, shape (n_unknowns,)."""
        pat = self._pat
        Vdir = driven_V[self._dir_pos]
        rhs = np.bincount(
            pat.rhs_row, weights=p_S[pat.rhs_br] * Vdir[pat.rhs_dir], minlength=self._nu
        ).astype(float, copy=False)
        if pat.nor_u.size:
            rhs[pat.nor_u] += self._nor_G * driven_V[self._nor_pos]
        return rhs

    def expand(self, x: np.ndarray, driven_V: np.ndarray) -> np.ndarray:
        """Node voltages (n_nodes,) from the unknowns ``x`` and the source voltages ``driven_V``."""
        V = np.empty(self.circuit.n_nodes)
        V[self._dir_nodes] = driven_V[self._dir_pos]
        V[self._unknown[self._perm]] = x
        return V

    def matrix(self, p_S: np.ndarray) -> sp.csc_matrix:
        """The reduced nodal matrix (n_unknowns, n_unknowns) for branch conductances ``p_S``, in
        the internal order of the unknowns (a new matrix)."""
        return self._pat.matrix(p_S)

    def factorize(self, p_S: np.ndarray) -> None:
        """Numerically factorise the reduced matrix of branch conductances ``p_S`` (kept for
        :meth:`solve_factored`; the symbolic analysis of the pattern is reused).

        The conductances may be any positive values on the circuit's pattern, for example the
        modified conductances of a Newton matrix.
        """
        self.n_solves += 1
        if self._linear is None:
            return
        self._factor = self._linear.factorize(p_S)

    def solve_factored(self, rhs: np.ndarray) -> np.ndarray:
        """Solve with the matrix of the last :meth:`factorize`; ``rhs`` and the result are in the
        internal order of the unknowns, shape (n_unknowns,)."""
        if self._nu == 0:
            return np.zeros(0)
        if self._factor is None:
            raise SolverError("solve_factored needs a factorize() first")
        return self._factor.solve(rhs)

    def reset_warm_start(self) -> None:
        """Forget what the backend carries from one solve to the next that changes its results.

        Only the ``"cg"`` backend has such state (its warm start, reset to zero); the direct
        backends keep only their symbolic analysis, which does not change results.
        """
        if self._linear is not None:
            self._linear.reset()

    def electrode_currents(
        self, G_S: np.ndarray, driven_V: np.ndarray, node_voltage_V: np.ndarray
    ) -> np.ndarray:
        """Current from each source into the network (n_electrodes,), in amperes; 0 when floating.

        Unchecked fast path: ``node_voltage_V`` must come from :meth:`node_voltages` with the same
        ``G_S`` and ``driven_V``.
        """
        out = np.zeros(self.circuit.n_electrodes)
        if self._dir_e.size:
            pat = self._pat
            p = self.branch_conductances(G_S)
            V = node_voltage_V
            out[self._dir_e] = pat.E_sub @ (p[pat.E_cols] * (V[pat.E_a] - V[pat.E_b]))
        if self._nor_e.size:
            out[self._nor_e] = self.norton_currents(driven_V, node_voltage_V)
        return out

    def solve(self, G_S: np.ndarray, driven_V: np.ndarray) -> NodalSolution:
        """Solve the circuit for junction conductances ``G_S`` and source voltages ``driven_V``.

        Parameters
        ----------
        G_S : ndarray, shape (n_junctions,)
            Junction conductances in siemens (finite, > 0).
        driven_V : ndarray, shape (n_driven,)
            Source voltage of each driven electrode, in the order of ``driven``.

        Returns
        -------
        NodalSolution

        Raises
        ------
        ValidationError
            Wrong shapes or non-finite / non-positive values.
        SolverError
            The factorisation failed or produced non-finite voltages.
        """
        G, Vd = self._check(G_S, driven_V)
        V = self.node_voltages(G, Vd)
        c = self.circuit
        p = self.branch_conductances(G)
        vb = V[self._a] - V[self._b]
        I = p * vb
        if self._kcl is None:
            self._kcl = KirchhoffResidual(self)
        _, residual = self._kcl.residual(p, vb, V, Vd)
        elec_I = self.electrode_currents(G, Vd, V)
        nj = self._n_j
        return NodalSolution(
            node_voltage_V=V,
            junction_voltage_V=V[self._a[:nj]] - V[self._b[:nj]],
            junction_current_A=I[:nj],
            electrode_voltage_V=V[c.electrode_node],
            electrode_current_A=elec_I,
            residual_rel=residual,
        )
