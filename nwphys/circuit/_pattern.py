"""The fixed sparsity pattern of a reduced nodal system and the maps from conductances to values.

:class:`~nwphys.circuit.nodal.NodalSolver` builds one :class:`NodalPattern` per circuit and set of driven
electrodes. Everything here depends only on the topology: the values of the matrix are
``M @ p + const`` for the branch conductances ``p`` (siemens), and the right-hand side and the
electrode currents are gathers and sums over fixed index arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["NodalPattern", "build_pattern"]


@dataclass(frozen=True, eq=False)
class NodalPattern:
    """CSC pattern of the reduced matrix (n_unknowns x n_unknowns) and its fixed maps.

    Attributes
    ----------
    n : int
        Number of unknowns.
    indices, indptr : ndarray of int32
        CSC row indices and column pointers; every diagonal entry is stored.
    M : scipy.sparse.csr_matrix, shape (nnz, n_branches)
        Map from branch conductances to the stored values (without the Norton conductances).
    const : ndarray, shape (nnz,)
        Constant part of the stored values: the Norton conductances ``1 / R_s`` on the diagonal.
    diag_pos : ndarray of int, shape (n,)
        Position of each diagonal entry in the stored values.
    upper_mask : ndarray of bool, shape (nnz,)
        Stored entries on or above the diagonal.
    uidx : ndarray of int, shape (n_nodes,)
        Unknown index of each node (-1 for Dirichlet electrode nodes).
    rhs_row, rhs_br, rhs_dir : ndarray of int
        Right-hand side terms ``p[rhs_br] * V_dir[rhs_dir]`` added to row ``rhs_row``: one per
        branch with exactly one Dirichlet end.
    nor_u : ndarray of int
        Unknown index of each Norton electrode node.
    E_cols, E_a, E_b : ndarray of int
        The branches that touch a Dirichlet electrode, and their end nodes.
    E_sub : scipy.sparse.csr_matrix, shape (n_dirichlet, E_cols.size)
        Signed incidence of the Dirichlet electrodes on those branches: their currents into the
        network are ``E_sub @ (p[E_cols] * (V[E_a] - V[E_b]))``.
    """

    n: int
    indices: np.ndarray
    indptr: np.ndarray
    M: sp.csr_matrix
    const: np.ndarray
    diag_pos: np.ndarray
    upper_mask: np.ndarray
    uidx: np.ndarray
    rhs_row: np.ndarray
    rhs_br: np.ndarray
    rhs_dir: np.ndarray
    nor_u: np.ndarray
    E_cols: np.ndarray
    E_a: np.ndarray
    E_b: np.ndarray
    E_sub: sp.csr_matrix

    def values(self, p_S: np.ndarray) -> np.ndarray:
        """Stored values of the matrix for branch conductances ``p_S`` (siemens), shape (nnz,)."""
        return self.M @ p_S + self.const

    def matrix(self, p_S: np.ndarray) -> sp.csc_matrix:
        """A new CSC matrix of the reduced system for branch conductances ``p_S``."""
        return self.csc(self.values(p_S))

    def csc(self, data: np.ndarray) -> sp.csc_matrix:
        """A CSC matrix on this pattern with the stored values ``data`` (not copied)."""
        return sp.csc_matrix((data, self.indices, self.indptr), shape=(self.n, self.n))


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def build_pattern(
    uidx: np.ndarray,
    branches: np.ndarray,
    *,
    n_nodes: int,
    dir_nodes: np.ndarray,
    nor_nodes: np.ndarray,
    nor_G: np.ndarray,
) -> NodalPattern:
    """Build the pattern of the reduced system for a numbering of the unknowns.

    Parameters
    ----------
    uidx : ndarray of int, shape (n_nodes,)
        Unknown index of each node, -1 for the Dirichlet electrode nodes.
    branches : ndarray of int, shape (n_branches, 2)
        End nodes of every branch (junctions, then fixed elements).
    n_nodes : int
        Number of nodes of the circuit.
    dir_nodes, nor_nodes : ndarray of int
        Nodes of the Dirichlet and of the Norton (series-resistance) electrodes.
    nor_G : ndarray, shape (nor_nodes.size,)
        Norton conductances ``1 / R_s`` in siemens.

    Returns
    -------
    NodalPattern
    """
    nb = branches.shape[0]
    nu = int(np.count_nonzero(uidx >= 0))
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
    rows_a = _concat(rows, np.int64)
    cols_a = _concat(cols, np.int64)
    nor_u = uidx[nor_nodes]
    # always include every diagonal entry so the pattern is complete
    diag = np.arange(nu)
    keys = np.concatenate([cols_a * nu + rows_a, diag * nu + diag])
    uniq, inv = np.unique(keys, return_inverse=True)
    inv_br = inv[: rows_a.size]
    nnz = uniq.size
    indices = (uniq % nu).astype(np.int32) if nu else np.zeros(0, np.int32)
    col_of = uniq // nu if nu else np.zeros(0, np.int64)
    indptr = np.searchsorted(col_of, np.arange(nu + 1)).astype(np.int32)
    M = sp.csr_matrix((_concat(coef, float), (inv_br, _concat(bidx, np.int64))), shape=(nnz, nb))
    const = np.zeros(nnz)
    if nor_u.size:
        dpos = np.searchsorted(uniq, nor_u * nu + nor_u)
        np.add.at(const, dpos, nor_G)
    # right-hand side: branches with exactly one Dirichlet end
    dir_idx = np.full(n_nodes, -1, dtype=np.int64)
    dir_idx[dir_nodes] = np.arange(dir_nodes.size)
    s1 = (ua >= 0) & (ub < 0)
    s2 = (ub >= 0) & (ua < 0)
    # incidence of Dirichlet electrode nodes: net current out of each into the network
    rows_e, cols_e, vals_e = [], [], []
    for i, node in enumerate(dir_nodes):
        for ends, sgn in ((a, 1.0), (b, -1.0)):
            ks = np.flatnonzero(ends == node)
            rows_e.append(np.full(ks.size, i))
            cols_e.append(ks)
            vals_e.append(np.full(ks.size, sgn))
    E_dir = sp.csr_matrix(
        (_concat(vals_e, float), (_concat(rows_e, np.int64), _concat(cols_e, np.int64))),
        shape=(dir_nodes.size, nb),
    )
    # only the branches touching a Dirichlet electrode carry its current: the same matrix over
    # those columns (same stored order, so the same sums bit for bit) on a gathered branch set
    e_cols = np.unique(E_dir.indices)
    remap = np.zeros(nb, dtype=np.int64)
    remap[e_cols] = np.arange(e_cols.size)
    return NodalPattern(
        n=nu,
        indices=indices,
        indptr=indptr,
        M=M,
        const=const,
        diag_pos=np.searchsorted(uniq, diag * nu + diag),
        upper_mask=indices <= np.repeat(np.arange(nu), np.diff(indptr)),
        uidx=uidx,
        rhs_row=np.concatenate([ua[s1], ub[s2]]),
        rhs_br=np.concatenate([k[s1], k[s2]]),
        rhs_dir=np.concatenate([dir_idx[b[s1]], dir_idx[a[s2]]]),
        nor_u=nor_u,
        E_cols=e_cols,
        E_a=a[e_cols],
        E_b=b[e_cols],
        E_sub=sp.csr_matrix(
            (E_dir.data, remap[E_dir.indices], E_dir.indptr), shape=(dir_nodes.size, e_cols.size)
        ),
    )
