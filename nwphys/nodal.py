"""Nodal analysis of a :class:`~nwphys.circuit.Circuit`: one sparse solve per set of conductances.

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
once. The matrix values are ``data = M @ G + const`` with a fixed sparse map ``M``, and each solve
redoes only the numeric work of the chosen backend:

``"splu"`` (default, numpy/scipy only)
    A fill-reducing ordering (SuperLU's minimum degree on ``A^T + A``) is computed once at
    construction and the unknowns are renumbered with it; each solve calls
    :func:`scipy.sparse.linalg.splu` with ``permc_spec="NATURAL"``, ``diag_pivot_thresh=0`` and
    ``SymmetricMode`` (no pivoting is needed for an SPD matrix). SuperLU still redoes its (cheap)
    symbolic pass on every call: scipy exposes no numeric-only refactorisation.
``"cg"``
    Jacobi-preconditioned conjugate gradients warm-started from the previous solution
    (relative residual ``cg_rtol``). Fast when conductances change little between solves.
``"qdldl"``
    The ``qdldl`` package (PyPI) when importable: AMD ordering and elimination tree computed once,
    numeric LDL^T refactorisation on each solve (``Solver.update``).
``"cholmod"``
    scikit-sparse's CHOLMOD when importable: symbolic analysis once, ``cholesky_inplace`` per solve.
``"auto"``
    ``"qdldl"`` when importable (the fastest measured: numeric-only refactorisation), else
    ``"splu"``, so the default installs from PyPI with numpy/scipy alone. Results of the two agree
    to rounding (~1e-14 relative).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from ._validation import check_choice, check_real
from .circuit import Circuit
from .errors import SolverError, ValidationError

__all__ = ["NODAL_BACKENDS", "NodalSolution", "NodalSolver", "available_backends"]

#: Names accepted by ``NodalSolver(backend=...)``.
NODAL_BACKENDS: tuple[str, ...] = ("auto", "splu", "cg", "qdldl", "cholmod")


def available_backends() -> tuple[str, ...]:
    """Return the concrete backends usable in this environment (``splu`` and ``cg`` always)."""
    out = ["splu", "cg"]
    try:
        import qdldl  # noqa: F401

        out.append("qdldl")
    except ImportError:
        pass
    try:
        from sksparse import cholmod  # noqa: F401

        out.append("cholmod")
    except ImportError:
        pass
    return tuple(out)


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
    backend : {"auto", "splu", "cg", "qdldl", "cholmod"}
        Linear-solver backend (see the module docstring).
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
        if backend == "auto":
            backend = "qdldl" if "qdldl" in available_backends() else "splu"
        if backend not in available_backends():
            raise SolverError(
                f"nodal backend {backend!r} is not importable here; available: "
                f"{', '.join(available_backends())} (qdldl: pip install qdldl; "
                "cholmod: pip install scikit-sparse)"
            )
        self.backend = backend
        self.n_solves = 0
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
        if nu == 0:
            self._perm = np.zeros(0, dtype=np.int64)
            self._setup_pattern(uidx, branches)
            return
        # fill-reducing ordering computed once on a representative matrix
        self._perm = np.arange(nu)
        self._setup_pattern(uidx, branches)
        if self.backend == "splu" and nu > 1:
            A0 = self._matrix(np.ones(nb))
            lu = spla.splu(
                A0, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
            )
            perm = np.asarray(lu.perm_c, dtype=np.int64)  # new position -> old index is argsort
            order = np.empty(nu, dtype=np.int64)
            order[perm] = np.arange(nu)  # order[new] = old unknown index
            self._perm = order
            new_of_old = np.empty(nu, dtype=np.int64)
            new_of_old[order] = np.arange(nu)
            self._setup_pattern(np.where(uidx >= 0, new_of_old[np.maximum(uidx, 0)], -1), branches)
        self._x_prev = np.zeros(nu)
        # persistent matrix objects whose ``data`` is overwritten in place on every solve
        self._A = self._matrix(np.ones(nb))
        self._A_csr = sp.csr_matrix((self._A.data, self._indices, self._indptr), shape=(nu, nu))
        if self.backend == "qdldl":
            import qdldl

            self._U = sp.triu(self._A, format="csc")
            self._U.sort_indices()
            upper_keys = self._indices[self._upper_mask].astype(np.int64)
            if not np.array_equal(self._U.indices, upper_keys):
                raise SolverError("internal error: upper-triangle pattern mismatch")
            # the upper-triangle values directly: the rows of M are independent dot products, so
            # ``M_up @ p + const_up`` equals ``(M @ p + const)[upper_mask]`` bit for bit
            self._M_up = self._M[np.flatnonzero(self._upper_mask)]
            self._const_up = self._const[self._upper_mask]
            self._qd = qdldl.Solver(self._U, upper=True)
        elif self.backend == "cholmod":
            from sksparse import cholmod

            self._chol = cholmod.analyze(self._matrix(np.ones(nb)), mode="auto")

    def _setup_pattern(self, uidx: np.ndarray, branches: np.ndarray) -> None:
        """Build the CSC pattern of the reduced matrix and the maps from conductances to values."""
        nb = branches.shape[0]
        nu = self._nu
        a, b = branches[:, 0], branches[:, 1]
        ua, ub = uidx[a], uidx[b]
        k = np.arange(nb)
        rows, cols, coef, bidx = [], [], [], []
        for u_, sel in ((ua, ua >= 0), (ub, ub >= 0)):
            rows.append(u_[sel])
            cols.append(u_[sel])
            coef.append(np.ones(sel.sum()))
            bidx.append(k[sel])
        both = (ua >= 0) & (ub >= 0)
        rows += [ua[both], ub[both]]
        cols += [ub[both], ua[both]]
        coef += [-np.ones(both.sum())] * 2
        bidx += [k[both]] * 2
        rows_a = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        cols_a = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        nor_u = uidx[self._nor_nodes]
        # always include every diagonal entry so the pattern is complete
        diag = np.arange(nu)
        keys = np.concatenate([cols_a * nu + rows_a, diag * nu + diag])
        uniq, inv = np.unique(keys, return_inverse=True)
        inv_br = inv[: rows_a.size]
        nnz = uniq.size
        self._indices = (uniq % nu).astype(np.int32) if nu else np.zeros(0, np.int32)
        col_of = uniq // nu if nu else np.zeros(0, np.int64)
        self._indptr = np.searchsorted(col_of, np.arange(nu + 1)).astype(np.int32)
        self._M = sp.csr_matrix(
            (
                np.concatenate(coef) if coef else np.zeros(0),
                (inv_br, np.concatenate(bidx) if bidx else np.zeros(0, np.int64)),
            ),
            shape=(nnz, nb),
        )
        const = np.zeros(nnz)
        if nor_u.size:
            dpos = np.searchsorted(uniq, nor_u * nu + nor_u)
            np.add.at(const, dpos, self._nor_G)
        self._const = const
        self._diag_pos = np.searchsorted(uniq, diag * nu + diag)
        self._upper_mask = self._indices <= np.repeat(np.arange(nu), np.diff(self._indptr))
        # right-hand side: branches with exactly one Dirichlet end
        dir_idx = np.full(self.circuit.n_nodes, -1, dtype=np.int64)
        dir_idx[self._dir_nodes] = np.arange(self._dir_nodes.size)
        s1 = (ua >= 0) & (ub < 0)
        s2 = (ub >= 0) & (ua < 0)
        self._rhs_row = np.concatenate([ua[s1], ub[s2]])
        self._rhs_br = np.concatenate([k[s1], k[s2]])
        self._rhs_dir = np.concatenate([dir_idx[b[s1]], dir_idx[a[s2]]])
        self._nor_u = nor_u
        self._uidx = uidx
        # incidence of Dirichlet electrode nodes: net current out of each into the network
        self._dir_e = self.driven_index[self._dir_pos]
        self._nor_e = self.driven_index[self._nor_pos]
        rows_e, cols_e, vals_e = [], [], []
        for i, node in enumerate(self._dir_nodes):
            for ends, sgn in ((a, 1.0), (b, -1.0)):
                ks = np.flatnonzero(ends == node)
                rows_e.append(np.full(ks.size, i))
                cols_e.append(ks)
                vals_e.append(np.full(ks.size, sgn))
        self._E_dir = sp.csr_matrix(
            (
                np.concatenate(vals_e) if vals_e else np.zeros(0),
                (
                    np.concatenate(rows_e) if rows_e else np.zeros(0, np.int64),
                    np.concatenate(cols_e) if cols_e else np.zeros(0, np.int64),
                ),
            ),
            shape=(self._dir_nodes.size, nb),
        )
        # only the branches touching a Dirichlet electrode carry its current: the same matrix over
        # those columns (same stored order, so the same sums bit for bit) on a gathered branch set
        cols = np.unique(self._E_dir.indices)
        remap = np.zeros(nb, dtype=np.int64)
        remap[cols] = np.arange(cols.size)
        self._E_cols = cols
        self._E_a = a[cols]
        self._E_b = b[cols]
        self._E_sub = sp.csr_matrix(
            (self._E_dir.data, remap[self._E_dir.indices], self._E_dir.indptr),
            shape=(self._dir_nodes.size, cols.size),
        )

    def _matrix(self, p_S: np.ndarray) -> sp.csc_matrix:
        data = self._M @ p_S + self._const
        return sp.csc_matrix((data, self._indices, self._indptr), shape=(self._nu, self._nu))

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

    def branch_conductances(self, G_S: np.ndarray) -> np.ndarray:
        """All branch conductances (junctions, then fixed elements), shape (n_branches,), siemens."""
        return np.concatenate([G_S, self._G_fixed]) if self._G_fixed.size else G_S

    def reduced_rhs(self, p_S: np.ndarray, driven_V: np.ndarray) -> np.ndarray:
        """Right-hand side of the reduced system for branch conductances ``p_S``, shape (n_unknowns,)."""
        Vdir = driven_V[self._dir_pos]
        rhs = np.bincount(
            self._rhs_row, weights=p_S[self._rhs_br] * Vdir[self._rhs_dir], minlength=self._nu
        ).astype(float, copy=False)
        if self._nor_u.size:
            rhs[self._nor_u] += self._nor_G * driven_V[self._nor_pos]
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
        return self._matrix(p_S)

    def factorize(self, p_S: np.ndarray) -> None:
        """Numerically factorise the reduced matrix of branch conductances ``p_S`` (kept for
        :meth:`solve_factored`; the symbolic analysis of the pattern is reused).

        The conductances may be any positive values on the circuit's pattern, for example the
        modified conductances of a Newton matrix.
        """
        self.n_solves += 1
        if self._nu == 0:
            return
        if self.backend == "qdldl":
            self._U.data[:] = self._M_up @ p_S + self._const_up
            try:
                self._qd.update(self._U, upper=True)
            except Exception as exc:  # pragma: no cover - optional backend
                raise SolverError(f"qdldl factorisation failed: {exc}") from None
            return
        data = self._M @ p_S + self._const
        if self.backend == "cg":
            self._cg_data = data
            return
        A = self._A
        A.data[:] = data
        if self.backend == "splu":
            try:
                self._lu = spla.splu(
                    A, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
                )
            except RuntimeError as exc:
                raise SolverError(f"sparse LU factorisation failed: {exc}") from None
            return
        try:
            self._cf = self._chol.cholesky(A)
        except Exception as exc:  # pragma: no cover - optional backend
            raise SolverError(f"CHOLMOD factorisation failed: {exc}") from None

    def solve_factored(self, rhs: np.ndarray) -> np.ndarray:
        """Solve with the matrix of the last :meth:`factorize`; ``rhs`` and the result are in the
        internal order of the unknowns, shape (n_unknowns,)."""
        if self._nu == 0:
            return np.zeros(0)
        if self.backend == "qdldl":
            return np.asarray(self._qd.solve(rhs), dtype=float)
        if self.backend == "splu":
            return self._lu.solve(rhs)
        if self.backend == "cg":
            return self._pcg(self._cg_data, rhs)
        return self._cf(rhs)  # pragma: no cover - optional backend

    def _pcg(self, data: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        nu = self._nu
        A = self._A_csr  # symmetric: the CSC arrays read as CSR give the same matrix
        A.data[:] = data
        dinv = 1.0 / data[self._diag_pos]
        bnorm = np.linalg.norm(rhs)
        if bnorm == 0.0:
            self._x_prev = np.zeros(nu)
            return self._x_prev.copy()
        # warm start: the previous solution rescaled to minimise the A-norm error along it
        x = self._x_prev.copy()
        Ax = A @ x
        xAx = x @ Ax
        if xAx > 0:
            alpha = (x @ rhs) / xAx
            x *= alpha
            r = rhs - alpha * Ax
        else:
            r = rhs - Ax
        tol = self.cg_rtol * bnorm
        if np.linalg.norm(r) <= tol:
            self._x_prev = x
            return x.copy()
        z = dinv * r
        pdir = z.copy()
        rz = r @ z
        for _ in range(self.cg_maxiter):
            Ap = A @ pdir
            alpha = rz / (pdir @ Ap)
            x += alpha * pdir
            r -= alpha * Ap
            if np.linalg.norm(r) <= tol:
                self._x_prev = x
                return x.copy()
            z = dinv * r
            rz_new = r @ z
            pdir = z + (rz_new / rz) * pdir
            rz = rz_new
        raise SolverError(
            f"conjugate gradients did not reach rtol={self.cg_rtol:g} in {self.cg_maxiter} iterations "
            f"(residual {np.linalg.norm(r) / max(bnorm, 1e-300):.3g})"
        )

    def electrode_currents(
        self, G_S: np.ndarray, driven_V: np.ndarray, node_voltage_V: np.ndarray
    ) -> np.ndarray:
        """Current from each source into the network (n_electrodes,), in amperes; 0 when floating.

        Unchecked fast path: ``node_voltage_V`` must come from :meth:`node_voltages` with the same
        ``G_S`` and ``driven_V``.
        """
        out = np.zeros(self.circuit.n_electrodes)
        if self._dir_e.size:
            p = np.concatenate([G_S, self._G_fixed]) if self._G_fixed.size else G_S
            c = self._E_cols
            out[self._dir_e] = self._E_sub @ (p[c] * (node_voltage_V[self._E_a] - node_voltage_V[self._E_b]))
        if self._nor_e.size:
            out[self._nor_e] = self._nor_G * (driven_V[self._nor_pos] - node_voltage_V[self._nor_nodes])
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
        p = np.concatenate([G, self._G_fixed]) if self._G_fixed.size else G
        I = p * (V[self._a] - V[self._b])
        n = c.n_nodes
        net = np.bincount(self._a, weights=I, minlength=n) - np.bincount(self._b, weights=I, minlength=n)
        absI = np.abs(I)
        scale = np.bincount(self._a, weights=absI, minlength=n) + np.bincount(
            self._b, weights=absI, minlength=n
        )
        inj = np.zeros(n)
        I_nor = self._nor_G * (Vd[self._nor_pos] - V[self._nor_nodes])
        inj[self._nor_nodes] = I_nor
        scale[self._nor_nodes] += np.abs(I_nor)
        imb = (net - inj)[self._unknown]
        sc = np.linalg.norm(scale[self._unknown])
        residual = float(np.linalg.norm(imb) / sc) if sc > 0 else 0.0
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
