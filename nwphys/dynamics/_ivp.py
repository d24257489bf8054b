"""The reference methods: :func:`scipy.integrate.solve_ivp` with a nodal solve in the right-hand
side, and the exact network Jacobian of its implicit methods."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from nwphys.circuit.nodal import NodalSolver
from nwphys.dynamics._record_chunks import drive_pieces, readout, record_times
from nwphys.dynamics._sim_checks import check_conductance, first_bad
from nwphys.dynamics.drives import Drive
from nwphys.errors import IntegrationError, SolverError
from nwphys.junctions import JunctionModel

__all__ = ["IvpOptions", "ivp_chunk", "network_jacobian"]


@dataclass(frozen=True)
class IvpOptions:
    """Settings of :func:`ivp_chunk`: the solve_ivp ``method``, its ``rtol`` and ``atol``, its
    largest step in seconds (None: unlimited) and whether the implicit methods get the exact
    :func:`network_jacobian` (else scipy's finite differences)."""

    method: str
    rtol: float
    atol: float
    max_step_s: float | None
    analytic_jacobian: bool


def network_jacobian(
    solver: NodalSolver, model: JunctionModel, g: np.ndarray, driven_V: np.ndarray
) -> np.ndarray:
    """Exact Jacobian ``d(dg/dt)/dg`` of the coupled network, dense (n_junctions, n_junctions).

    ``J = diag(f_s) - diag(f_v) B^T A^-1 B diag(v G')``: ``f_s``, ``f_v`` the model's partial
    derivatives (:meth:`~nwphys.junctions.JunctionModel.rate_jacobian`), ``B`` the junctions'
    incidence on the unknown nodes, ``A`` the reduced nodal matrix, ``v`` the junction voltages and
    ``G'`` the conductance slope. Cost: one factorisation and ``n_junctions`` solves (dense).
    """
    c = solver.circuit
    a, b = c.edges[:, 0], c.edges[:, 1]
    G = model.conductance_S(g)
    V = solver.node_voltages(G, driven_V)
    v = V[a] - V[b]
    f_s, f_v = model.rate_jacobian(g, v)
    nj, nu = c.n_junctions, solver.n_unknowns
    pos = np.full(c.n_nodes, -1, dtype=np.int64)
    pos[solver.unknown_nodes] = np.arange(nu)
    Bu = np.zeros((nu, nj))  # B restricted to the unknown nodes
    cols = np.arange(nj)
    ka, kb = pos[a] >= 0, pos[b] >= 0
    Bu[pos[a[ka]], cols[ka]] = 1.0
    Bu[pos[b[kb]], cols[kb]] = -1.0
    # A dx = -B diag(v G') dg  ->  dv/dg = -B^T A^-1 B diag(v G')
    if nu:
        from scipy.sparse.linalg import splu

        lu = splu(solver.matrix(solver.branch_conductances(G)))
        Z = lu.solve(Bu * (v * model.conductance_slope_S(g))[None, :])
    else:
        Z = Bu
    J = -(f_v[:, None] * (Bu.T @ Z))
    J[np.diag_indices(nj)] += f_s
    return J


def ivp_chunk(
    solver: NodalSolver,
    model: JunctionModel,
    drive: Drive,
    g: np.ndarray,
    r0: int,
    r1: int,
    n_rows: int,
    rec_dt: float,
    probe: np.ndarray | None,
    options: IvpOptions,
    *,
    t_end_s: float = np.inf,
) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """Integrate with solve_ivp from record ``r0`` (state ``g``) and read out records ``r0 .. r1-1``.

    The records are at :func:`~nwphys.dynamics._record_chunks.record_times` (``t_end_s``: the end of the
    run, the time of its last record). Returns the state at record ``r1`` (or at the last record),
    the records and the step count.
    """
    from scipy.integrate import solve_ivp

    method, rtol, atol = options.method, options.rtol, options.atol
    max_step, analytic_jac = options.max_step_s, options.analytic_jacobian

    circuit = solver.circuit
    a, b = circuit.edges[:, 0], circuit.edges[:, 1]
    r_end = min(r1, n_rows - 1)
    t_rec = record_times(r0, r_end + 1, rec_dt, t_end_s)
    t0, t1 = t_rec[0], t_rec[-1]
    states = np.full((t_rec.size, g.size), np.nan)
    states[0] = g
    n_steps = 0
    if t1 > t0:
        tol = 1e-9 * rec_dt  # breakpoints closer than this to a cut are rounding images of it
        y = g
        for ta, tb in itertools.pairwise(drive_pieces(drive, float(t0), float(t1), tol)):
            # evaluate the drive strictly inside the piece: the value on the right of a jump at ta
            # and on the left of a jump at tb (delta is far above the waveforms' edge tolerance)
            delta = 1e-6 * (tb - ta)
            t_lo, t_hi = ta + delta, tb - delta

            def vd(t: float, t_lo: float = t_lo, t_hi: float = t_hi) -> np.ndarray:
                return drive.voltages(min(max(t, t_lo), t_hi))[0]

            def fun(t: float, y_: np.ndarray, vd=vd) -> np.ndarray:
                G = model.conductance_S(y_)
                check_conductance(G, t)
                try:
                    V = solver.node_voltages(G, vd(t))
                except SolverError as exc:
                    raise IntegrationError(f"nodal solve failed at t={t:.9g} s: {exc}") from None
                d = model.rhs(y_, V[a] - V[b])
                if not np.all(np.isfinite(d)):
                    j = first_bad(d)
                    raise IntegrationError(
                        f"non-finite junction rate {float(d[j])!r} at t={t:.9g} s, junction {j}"
                    )
                return d

            sel = (t_rec > ta + tol) & (t_rec <= tb + tol)
            t_ev = np.unique(np.concatenate([np.clip(t_rec[sel], ta, tb), [tb]]))
            kw: dict[str, Any] = {"rtol": rtol, "atol": atol}
            if max_step is not None:
                kw["max_step"] = max_step
            if analytic_jac and method in ("Radau", "BDF", "LSODA"):
                kw["jac"] = lambda t, y_, vd=vd: network_jacobian(solver, model, y_, vd(t))
            sol = solve_ivp(fun, (ta, tb), y, method=method, t_eval=t_ev, **kw)
            if sol.status != 0:
                t_fail = float(sol.t[-1]) if sol.t.size else ta
                rate = np.abs(fun(t_fail, sol.y[:, -1] if sol.y.size else y))
                raise IntegrationError(
                    f"{method} failed at t={t_fail:.9g} s: {sol.message} "
                    f"(fastest junction {int(np.argmax(rate))})"
                )
            n_steps += int(getattr(sol, "nfev", 0))
            n_sel = int(sel.sum())
            if n_sel:
                states[sel] = sol.y.T[:n_sel]
            y = sol.y[:, -1]
            if not np.all(np.isfinite(y)):
                j = first_bad(y)
                raise IntegrationError(f"non-finite junction state at t={tb:.9g} s, junction {j}")
    n_out = r1 - r0
    recs = readout(solver, model, states[:n_out], drive.voltages(t_rec[:n_out]), t_rec[:n_out], probe)
    return states[-1].copy(), recs, n_steps
