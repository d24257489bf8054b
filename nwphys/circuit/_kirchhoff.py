"""Kirchhoff's current law on the unknown node voltages of a :class:`~nwphys.circuit.nodal.NodalSolver`.

The one implementation of the Kirchhoff residual: the stiff integrator (:mod:`nwphys.dynamics.implicit`)
runs Newton on the unknowns ``x`` (in the solver's internal order) with it, and
:meth:`NodalSolver.solve <nwphys.circuit.nodal.NodalSolver.solve>` reports its relative size as
``residual_rel``. :class:`KirchhoffResidual` holds the signed incidence of every branch on those
unknowns and gives the current imbalance, its relative size, and the maps between junction
quantities and the unknowns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from nwphys.circuit.nodal import NodalSolver

__all__ = ["KirchhoffResidual"]


class KirchhoffResidual:
    """Incidence of the branches of ``solver``'s circuit on its unknown node voltages.

    Attributes
    ----------
    a, b : ndarray of int, shape (n_branches,)
        End nodes of every branch (junctions, then fixed elements).
    B : scipy.sparse.csr_matrix, shape (n_unknowns, n_branches)
        Signed incidence (+1 at ``a``, -1 at ``b``): the imbalance is ``B @ I``.
    Bj, BjT : scipy.sparse.csr_matrix
        The junction columns of ``B`` (injected currents -> unknown rows) and its transpose
        (a change of the unknowns -> the change of the junction voltages).
    """

    def __init__(self, solver: NodalSolver) -> None:
        c = solver.circuit
        self.solver = solver
        self.a = np.concatenate([c.edges[:, 0], c.fixed_edges[:, 0]])
        self.b = np.concatenate([c.edges[:, 1], c.fixed_edges[:, 1]])
        xnodes = solver.unknown_nodes
        # signed incidence of every branch on the unknown nodes (x order) and its absolute value:
        # Kirchhoff imbalance = B @ I, its scale = |B| @ |I|
        nb = self.a.size
        pos = np.full(c.n_nodes, -1, dtype=np.int64)
        pos[xnodes] = np.arange(xnodes.size)
        rows = np.concatenate([pos[self.a], pos[self.b]])
        cols = np.concatenate([np.arange(nb), np.arange(nb)])
        vals = np.concatenate([np.ones(nb), -np.ones(nb)])
        keep = rows >= 0
        self.B = sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(xnodes.size, nb))
        self._Babs = abs(self.B)
        self.Bj = self.B[:, : c.n_junctions].tocsr()
        self.BjT = self.Bj.T.tocsr()
        self._nor_x = pos[solver.norton_nodes]  # unknown index of each series-resistance source

    def residual(
        self, p: np.ndarray, vb: np.ndarray, V: np.ndarray, vd: np.ndarray
    ) -> tuple[np.ndarray, float]:
        """Kirchhoff imbalance at the unknown nodes (x order, amperes) and its relative size.

        Parameters
        ----------
        p : ndarray, shape (n_branches,)
            Branch conductances in siemens.
        vb : ndarray, shape (n_branches,)
            Branch voltages ``V[a] - V[b]`` in volts.
        V : ndarray, shape (n_nodes,)
            Node voltages in volts.
        vd : ndarray, shape (n_driven,)
            Source voltages in volts.

        Returns
        -------
        F : ndarray, shape (n_unknowns,)
            Net current out of each unknown node.
        rel : float
            ``|F| / | |B| |I| + |I_norton| |``: 0 for no current, inf for an imbalance without
            any current.
        """
        I = p * vb
        F = self.B @ I
        scale = self._Babs @ np.abs(I)
        if self._nor_x.size:
            inj = self.solver.norton_currents(vd, V)
            F[self._nor_x] -= inj
            scale[self._nor_x] += np.abs(inj)
        sc = float(np.sqrt(scale @ scale))
        fn = float(np.sqrt(F @ F))
        return F, (fn / sc if sc > 0 else (0.0 if fn == 0.0 else np.inf))
