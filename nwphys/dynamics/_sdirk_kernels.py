"""Compiled held-sample integration of one series on a rate-balance junction network: SDIRK2 and ESDIRK3.

The arithmetic of :mod:`nwphys.dynamics.batched`, written as numba loops over the fixed index
arrays of one circuit so that no Python call is made inside a series. One driver
(:func:`run_series`) runs either scheme; only the stages of a step differ.

SDIRK2 (``order`` 2)
--------------------
The same scheme, error control and state limiting as
:class:`nwphys.dynamics.implicit.StiffIntegrator` (see that module's notes). Two differences, both
in how the stage equations are solved, not in what is solved:

* **Simplified Newton.** The Newton matrix ``A(G + w)`` is kept across iterations, stages, steps
  and samples while Newton contracts fast enough; it is refactorised (at the current iterate)
  only when the residual of the last iteration fell by less than ``refactor_ratio``, or when no
  usable factor exists (the start of a series, after a failed stage or a rejected residual).
  The error filter ``(I - c J)^-1 e`` uses the factor at hand, as Radau5 does.
* **Stopping.** The last stage of the last step of every sample (whose voltages are read)
  stops when the relative Kirchhoff residual is at most ``kcl_rtol``. Every other stage stops
  after a correction ``dx`` when the residual before it was at most ``kcl_inner_rtol`` and
  ``max(theta, theta_floor) / (1 - theta) |ds/dv dv_k| <= newton_fraction (atol + rtol |g_k|)``
  for every junction (``theta``: the last observed contraction); the state and voltages then
  take the correction to first order (``g + ds/dv dv``, no further evaluation). A step whose
  accepted state and voltages miss their Kirchhoff tolerance is retried (fresh matrix, half the
  step), so every accepted step satisfies it.

ESDIRK3 (``order`` 3)
---------------------
Kvaerno's four-stage ESDIRK of order 3 with an embedded method of order 2 (A. Kvaerno, *Singly
diagonally implicit Runge-Kutta methods with an explicit first stage*, BIT 44 (2004) 489-502),
with the same Newton, stopping rules, limiting and Kirchhoff checks. The tableau follows from
``gamma`` alone, the root of ``6 gamma^3 - 18 gamma^2 + 9 gamma - 1`` near 0.4359 that makes the
method L-stable::

    0         | 0
    2 gamma   | gamma     gamma
    1         | a31       a32       gamma
    1         | b1        b2        b3        gamma

with ``a32 = (1/2 - gamma) / (2 gamma)``, ``a31 = 1 - gamma - a32`` (stage 3 is the embedded
second-order solution at ``t + h``), ``b2 = 1 / (12 gamma - 24 gamma^2)``,
``b3 = 1/2 - gamma - 2 gamma b2`` and ``b1 = 1 - gamma - b2 - b3`` (the third-order conditions;
``tests/nwphys/test_esdirk.py`` checks all of them). Both the method and its embedding are
stiffly accurate, and the stage order is 2.

Every implicit stage of either scheme is the problem ``g = psi + gamma h f(g, V)`` with the node
voltages ``V`` solved from Kirchhoff's law: for fixed voltages the junction equation is linear in
``g``, so ``g`` has a closed form and Newton runs on the voltages only. In ESDIRK3
``psi_i = g_n + h sum_j a_ij f_j``; the rate of an implicit stage is ``f_j = (g_j - psi_j) /
(gamma h)`` (no evaluation), and that of the explicit first stage is the last stage's of the
previous step (first same as last), evaluated afresh only where the sources change. ``psi`` is
limited to [0, 1] at every stage (a stage state is then a convex combination of 0, 1 and ``psi``,
so no conductance can turn negative); the amount removed enters the error estimate. The error
estimate is the difference of stages 4 and 3, filtered as in SDIRK2, and the step follows
``h (0.9 / err)^(1/3)``; a rejected step is retried as if the error fell as ``h^2`` (the transient
after a source change shows about ``h^1.7``), and the first step after a source change starts no
larger than the step the previous change's first step asked for. The voltages of stage 2 are
extrapolated linearly through the last step's stage 2 and end; in the first step of a
sample, which has no last step, along the tangent of the voltages at its start (one solve with the
plain nodal factor at hand: ``dV/dt = -A^-1 (dF/dg) f1``, ``F`` the Kirchhoff imbalance).

The voltages that ESDIRK3 reads at the end of a sample are not iterated to ``kcl_rtol`` within
the last stage: that stage stops like the others, and once the step is accepted the voltages are
solved afresh, by one plain nodal solve from 0 V, at its accepted state (the junction states keep
their stopped-Newton accuracy; the currents read are those of exactly these states, to
``kcl_rtol``, checked). That factor of the plain nodal matrix is also the one the next sample's
consistent voltages need (the state does not change at a source change), so none is made there.

Both
----
A source change at the start of a sample factorises the plain nodal matrix ``A(G)`` and solves
for the consistent voltages from 0 V (not as a correction of the old voltages, whose rounding
would stay in the new ones: with every source at 0 V it would never let the relative Kirchhoff
residual fall), and that factor becomes the Newton matrix of the first stage.

Every kernel is compiled with numba's ``error_model="numpy"``: a division by zero gives an infinity
or NaN instead of raising. Under the default (Python) model every division carries a zero check
with an exit from the loop, and LLVM does not vectorise a loop with such an exit: the closed-form
stage solution ran 2.7 times slower. No divisor here can be zero for validated input (``c =
gamma h > 0``, ``atol > 0``, ``1 + q + r >= 1``, pivots checked positive before their reciprocal),
and the checks for NaN and infinity in the error estimate and the Kirchhoff residual stay.

Status codes (the return value of :func:`run_series`): 0 success, 1 step size below ``h_min``
(``info`` holds the time, the step, the worst junction and its error ratio, and whether the last
rejection was a Newton failure), 2 a non-positive pivot in the plain nodal factorisation.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numba as nb
import numpy as np

from nwphys.circuit._ldl_kernels import ldl_numeric, ldl_solve

__all__ = ["TABLEAU", "Topology", "run_series"]

#: SHA-256 of ``nwphys/circuit/_ldl_kernels.py``, whose kernels these call. numba's on-disk cache
#: revalidates a compiled function against its own source file only (time stamp and size), so a
#: change to that file alone would leave the cached kernels of this one running its old code.
#: ``tests/nwphys/test_batched.py`` keeps this digest equal to that file's: a change there must
#: change this file too, which recompiles both.
LDL_SOURCE_SHA256 = "01c7ecfcc5c0ad6b6fe71bcc7718065054185796af99b723bbfc0074bcb59427"

#: Index arrays of one circuit with its driven electrodes (see :func:`nwphys.dynamics.batched` for their
#: construction). Node indices refer to the circuit; unknown indices to the engine's ordering.
Topology = namedtuple(
    "Topology",
    [
        "n",  # unknowns
        "n_nodes",  # nodes of the circuit
        "nj",  # junctions
        "ba",  # (nb,) end node a of every branch (junctions, then fixed elements)
        "bb",  # (nb,) end node b
        "ua",  # (nb,) unknown index of a; n (a slot that is never read) for a Dirichlet node
        "ub",  # (nb,) unknown index of b; n for a Dirichlet node
        "gfix",  # (nb - nj,) fixed conductances, S
        "unk_nodes",  # (n,) node of every unknown
        "dir_nodes",  # (nd,) Dirichlet nodes
        "dir_pos",  # (nd,) their position in the driven vector
        "nor_u",  # (nn,) unknown index of every series-resistance source node
        "nor_nodes",  # (nn,) its node
        "nor_pos",  # (nn,) its position in the driven vector
        "nor_g",  # (nn,) 1 / R_s, S
        "nor_diag",  # (nn,) position of its diagonal entry in the upper values
        "Up",  # (n + 1,) upper-triangle CSC column pointers
        "Ui",  # (nnz_up,) upper-triangle CSC row indices
        "pos_a",  # (nb,) position of the diagonal entry of ua in the upper values; nnz_up if none
        "pos_b",  # (nb,) same for ub
        "pos_o",  # (nb,) position of the off-diagonal entry (ua, ub); nnz_up if none
        "Lp",  # (n + 1,) column pointers of L
        "Li",  # (nnz_l,) row indices of L
        "Rp",  # (n + 1,) row pointers of the factorisation's schedule (ldl_schedule)
        "Rc",  # (nnz_l,) the columns every row of L is updated from, in order
        "Rq",  # (nnz_l,) the positions of those entries in Lx
        "elec_node",  # (ne,) node of every electrode
        "br_ea",  # (nb,) Dirichlet electrode at end a of the branch, -1 if none
        "br_eb",  # (nb,) same at end b
        "src_br",  # (n_src,) the branches with an end at a Dirichlet electrode, in increasing order
        "elec_nor",  # (ne,) index of the electrode in the Norton arrays, -1 if none
        "probe",  # (n_probe,) probed nodes
    ],
)

GAMMA = 1.0 - 1.0 / math.sqrt(2.0)
_EXTRAP = (1.0 - GAMMA) / GAMMA
_FAC_MAX = 10.0
RELAX_DISCOUNT = 0.5

# indices of the counters in ``stats``
N_STEPS, N_REJECTED, N_FACTOR, N_NEWTON, N_SOLVES, N_LIMITED, N_SAMPLES = 0, 1, 2, 3, 4, 5, 6
N_STATS = 7
# indices of ``info``
I_T, I_H, I_WORST_K, I_WORST_RATIO, I_NEWTON_FAILED, I_G_MIN, I_G_MAX, I_KCL_MAX, I_KCL_INNER = range(9)
N_INFO = 9


@nb.njit(cache=True, error_model="numpy")
def _expand(top, x, vd, V):
    for i in range(top.dir_nodes.size):
        V[top.dir_nodes[i]] = vd[top.dir_pos[i]]
    for i in range(top.n):
        V[top.unk_nodes[i]] = x[i]


_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_FAST = {"contract", "arcp", "nsz", "afn", "reassoc"}


@nb.njit(cache=True, fastmath=_FAST, error_model="numpy")
def exp_nonpositive(x, out, work):
    """``out = exp(x)`` for ``x <= 0`` (work: an int64 array of the same size), vectorisable.

    Cody-Waite reduction ``x = k ln 2 + r`` (``|r| <= ln 2 / 2``), a degree-12 Taylor polynomial of
    ``exp(r)`` and ``2^k`` assembled in the exponent bits: relative error below 1e-13 (tested
    against :func:`numpy.exp`). Arguments below -708 give ``exp(-708)`` (3.3e-308) instead of a
    subnormal or zero; every caller adds the result to terms of order one or divides by it
    into a rate that then exceeds any step's reciprocal, so the difference cannot be seen.
    Unlike ``math.exp``, the loop compiles to SIMD code (3 to 5 times faster here).
    """
    for i in range(x.size):
        xi = x[i]
        xi = xi if xi > -708.0 else -708.0
        kf = math.floor(xi * _INV_LN2 + 0.5)
        r = (xi - kf * _LN2_HI) - kf * _LN2_LO
        e = 1.0 / 479001600.0
        e = e * r + 2.505210838544172e-08
        e = e * r + 2.755731922398589e-07
        e = e * r + 2.7557319223985893e-06
        e = e * r + 2.48015873015873e-05
        e = e * r + 0.0001984126984126984
        e = e * r + 0.001388888888888889
        e = e * r + 0.008333333333333333
        e = e * r + 0.041666666666666664
        e = e * r + 0.16666666666666666
        e = e * r + 0.5
        e = e * r + 1.0
        e = e * r + 1.0
        out[i] = e
        work[i] = (np.int64(kf) + 1023) << 52
    scale = work.view(np.float64)
    for i in range(x.size):
        out[i] *= scale[i]


@nb.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _closed_form(nj, ikp0, rkk, ep, ed, gmin, slope, psi, c, vj, s, s_v, s_psi, G, E1, E2):
    """The closed-form stage solution of every junction from ``E1``, ``E2`` (see :func:`_stage_eval`);
    one vectorisable loop (no NaN or infinity assumptions are made)."""
    ic = 1.0 / c
    for k in range(nj):
        v = vj[k]
        q = E1[k] * ic * ikp0[k]
        r = E1[k] * E2[k] * rkk[k]
        inv = 1.0 / (q + r + 1.0)
        g = (psi[k] * q + 1.0) * inv
        sign = (1.0 if v > 0.0 else 0.0) - (1.0 if v < 0.0 else 0.0)
        d = ((1.0 - g) * ep[k] + (r * g) * ed[k]) * inv * sign
        s[k] = g
        s_v[k] = d
        s_psi[k] = q * inv
        G[k] = gmin[k] + slope[k] * g


@nb.njit(cache=True, error_model="numpy", inline="always")
def _stage_eval(top, ikp0, rkk, ep, ed, gmin, slope, psi, c, V, vj, s, s_v, s_psi, G, E1, E2, wa, wb, wk):
    """Junction voltages and the closed-form stage solution at fixed voltages.

    ``ikp0 = 1 / kp0`` and ``rkk = kd0 / kp0`` per junction (precomputed: no division but one).

    Also leaves ``E1 = exp(-eta_p |v|)`` and ``E2 = exp(-eta_d |v|)`` (the rates are
    ``kp = kp0 / E1`` and ``kd = kd0 E2``).
    """
    nj = top.nj
    for k in range(nj):
        v = V[top.ba[k]] - V[top.bb[k]]
        a = abs(v)
        vj[k] = v
        wa[k] = -ep[k] * a
        wb[k] = -ed[k] * a
    exp_nonpositive(wa, E1, wk)
    exp_nonpositive(wb, E2, wk)
    _closed_form(nj, ikp0, rkk, ep, ed, gmin, slope, psi, c, vj, s, s_v, s_psi, G, E1, E2)


@nb.njit(cache=True, error_model="numpy", inline="always")
def _residual(top, G, V, vd, F, FS):
    """Kirchhoff imbalance ``F`` at the unknowns and its relative 2-norm. ``FS`` (length ``2 (n +
    1)``) is the work array in which the imbalance and the scale (the sum of the sizes of the
    currents) of every unknown are accumulated side by side (``FS[2 i]``, ``FS[2 i + 1]``): two
    adjacent updates per branch end, which the compiler pairs, instead of two arrays."""
    FS[:] = 0.0
    for k in range(top.nj):
        _add_current(top, k, G[k] * (V[top.ba[k]] - V[top.bb[k]]), FS)
    return _residual_rest(top, V, vd, F, FS)


@nb.njit(cache=True, error_model="numpy", inline="always")
def _stage_residual(top, G, vj, V, vd, F, FS):
    """:func:`_residual` with the junction voltages ``vj`` at hand (``V[ba] - V[bb]``, as the stage
    evaluation leaves them: the same numbers, without gathering them again)."""
    FS[:] = 0.0
    for k in range(top.nj):
        _add_current(top, k, G[k] * vj[k], FS)
    return _residual_rest(top, V, vd, F, FS)


@nb.njit(cache=True, error_model="numpy", inline="always")
def _add_current(top, k, cur, FS):
    """Branch ``k``'s current ``cur`` out of end a and into end b, and its size into both ends' scale
    (``FS`` as in :func:`_residual`)."""
    ia = 2 * top.ua[k]
    ib = 2 * top.ub[k]
    a = abs(cur)
    FS[ia] += cur
    FS[ia + 1] += a
    FS[ib] -= cur
    FS[ib + 1] += a


@nb.njit(cache=True, error_model="numpy", inline="always")
def _residual_rest(top, V, vd, F, FS):
    """The fixed branches' and the series-resistance sources' share of :func:`_residual` (after the
    junctions'), the imbalance into ``F`` and the relative 2-norm of the imbalance."""
    nj = top.nj
    for k in range(nj, top.ba.size):
        _add_current(top, k, top.gfix[k - nj] * (V[top.ba[k]] - V[top.bb[k]]), FS)
    for i in range(top.nor_u.size):
        inj = top.nor_g[i] * (vd[top.nor_pos[i]] - V[top.nor_nodes[i]])
        u = 2 * top.nor_u[i]
        FS[u] -= inj
        FS[u + 1] += abs(inj)
    fn = 0.0
    sc = 0.0
    for i in range(top.n):
        f = FS[2 * i]
        g = FS[2 * i + 1]
        F[i] = f
        fn += f * f
        sc += g * g
    F[top.n] = 0.0
    fn = math.sqrt(fn)
    sc = math.sqrt(sc)
    if sc > 0.0:
        return fn / sc
    return 0.0 if fn == 0.0 else np.inf


@nb.njit(cache=True, error_model="numpy")
def _source_residual(top, G, V, vd, F):
    """The Kirchhoff imbalance at the unknowns, all of them at 0 V (``V`` holds the sources and zeros):
    minus the right-hand side of the nodal equations, from the branches at a source and the
    series-resistance sources only (the others carry no current; the sums are those of
    :func:`_residual` there, bit for bit)."""
    F[:] = 0.0
    nj = top.nj
    for q in range(top.src_br.size):
        k = top.src_br[q]
        p = G[k] if k < nj else top.gfix[k - nj]
        cur = p * (V[top.ba[k]] - V[top.bb[k]])
        F[top.ua[k]] += cur
        F[top.ub[k]] -= cur
    for i in range(top.nor_u.size):
        F[top.nor_u[i]] -= top.nor_g[i] * (vd[top.nor_pos[i]] - V[top.nor_nodes[i]])
    F[top.n] = 0.0


@nb.njit(cache=True, error_model="numpy")
def _factor(top, p, Ux, Lx, Dinv, wy):
    """Assemble the upper values of the nodal matrix of branch conductances ``p`` and factorise."""
    Ux[:] = 0.0
    for k in range(top.ba.size):
        pk = p[k]
        Ux[top.pos_a[k]] += pk
        Ux[top.pos_b[k]] += pk
        Ux[top.pos_o[k]] -= pk
    for i in range(top.nor_u.size):
        Ux[top.nor_diag[i]] += top.nor_g[i]
    return ldl_numeric(top.n, top.Up, top.Ui, Ux, top.Lp, top.Li, Lx, Dinv, wy, top.Rp, top.Rc, top.Rq)


@nb.njit(cache=True, error_model="numpy")
def _newton_step(n, Lp, Li, Lx, Dinv, F, x, dx, x_prev):
    """One Newton correction with the factor at hand: ``dx = -A^-1 F``, ``x_prev = x``, ``x += dx``."""
    for i in range(n):
        dx[i] = -F[i]
    ldl_solve(n, Lp, Li, Lx, Dinv, dx)
    for i in range(n):
        x_prev[i] = x[i]
        x[i] += dx[i]


#: Work arrays of one series (allocated once per series by :func:`_work`).
Work = namedtuple(
    "Work",
    [
        "Ux", "Lx", "Dinv", "wy",  # the factor (L and 1 / D) and its workspace
        "V", "F", "FS", "p", "dx", "x_prev",  # node voltages, residual (FS: its work), conductances, Newton
        "vj", "sv", "spsi", "G", "E1", "E2", "wa", "wb", "wk",  # junction quantities of the last evaluation
    ],
)


@nb.njit(cache=True, error_model="numpy")
def _work(top):
    """The work arrays of one series on ``top`` (the fixed branches' conductances already set)."""
    n, nj, nb_ = top.n, top.nj, top.ba.size
    nnz_l = top.Lp[n]
    p = np.empty(nb_)
    for k in range(nj, nb_):
        p[k] = top.gfix[k - nj]
    return Work(
        np.empty(top.Ui.size + 1), np.empty(nnz_l), np.empty(n), np.zeros(n),
        np.zeros(top.n_nodes), np.zeros(n + 1), np.zeros(2 * (n + 1)), p, np.zeros(n + 1), np.empty(n),
        np.empty(nj), np.empty(nj), np.empty(nj), np.empty(nj), np.empty(nj), np.empty(nj), np.empty(nj),
        np.empty(nj), np.empty(nj, np.int64),
    )


@nb.njit(cache=True, error_model="numpy", inline="always")
def _refactor(top, w):
    """Factorise the nodal matrix of the branch conductances ``w.p`` into ``w``."""
    return _factor(top, w.p, w.Ux, w.Lx, w.Dinv, w.wy)


@nb.njit(cache=True, error_model="numpy")
def _sources_changed(vd, vd_last, have_vd):
    """Whether the held sources ``vd`` differ from the last sample's (or there is none)."""
    if not have_vd:
        return True
    for i in range(vd.size):
        if vd[i] != vd_last[i]:
            return True
    return False


@nb.njit(cache=True, error_model="numpy")
def _consistent_voltages(top, w, gmin, slope, s, vd, x, stats, factored):
    """Voltages ``x`` consistent with the states ``s`` and the sources ``vd``: one plain nodal solve
    from 0 V, so that its rounding is relative to the new voltages, not to the old ones (a
    correction of the old ones towards sources at 0 V would leave a residue whose relative
    Kirchhoff residual never falls). Its factor becomes the Newton matrix. ``factored``: the factor
    at hand is already that of the plain nodal matrix at ``s`` (none is made). False: a pivot
    failed."""
    x[:] = 0.0
    _expand(top, x, vd, w.V)
    for k in range(top.nj):
        w.G[k] = gmin[k] + slope[k] * s[k]
        w.p[k] = w.G[k]
    _source_residual(top, w.G, w.V, vd, w.F)
    if not factored:
        if not _refactor(top, w):
            return False
        stats[N_FACTOR] += 1
    stats[N_SOLVES] += 1
    _newton_step(top.n, top.Lp, top.Li, w.Lx, w.Dinv, w.F, x, w.dx, w.x_prev)
    return True


@nb.njit(cache=True, error_model="numpy")
def _limit(psi, psil, clip):
    """``psil = clip(psi, 0, 1)``; adds the amount removed to ``clip``; returns how many were limited."""
    n_lim = 0
    for k in range(psi.size):  # branch-free, so that it vectorises: adding 0 leaves clip as it is
        v = psi[k]
        q = min(max(v, 0.0), 1.0)
        n_lim += q != v
        clip[k] += abs(v - q)
        psil[k] = q
    return n_lim


@nb.njit(cache=True, error_model="numpy")
def _state_converged(top, dx, sv, sg, dv, eta, newton_fraction, rtol, atol):
    """Whether ``eta |ds/dv dv_k| <= newton_fraction (atol + rtol |g_k|)`` for every junction, with
    ``dv`` (out) the junction voltages of the correction ``dx``, which the first-order update then
    takes instead of gathering them again; one loop over every junction, without an early exit."""
    n_out = 0
    for k in range(top.nj):
        d = dx[top.ua[k]] - dx[top.ub[k]]
        dv[k] = d
        n_out += eta * abs(sv[k] * d) > newton_fraction * (atol + rtol * abs(sg[k]))
    return n_out == 0


@nb.njit(cache=True, error_model="numpy")
def _solve_stage(top, w, ikp0, rkk, ep, ed, gmin, slope, psi, c, xs, vd, sg, tight, opts, max_newton, fac_ok,
                 theta, stats):
    """Simplified Newton on the voltages ``xs`` of one stage ``g = psi + c f(g, V)`` (see the module
    notes). ``opts``: ``(kcl_rtol, kcl_inner_rtol, refactor_ratio, newton_fraction, theta_floor, rtol,
    atol)``.

    On return ``sg`` holds the stage state and ``xs`` its voltages (``w.sv``, ``w.spsi``, ``w.G``,
    ``w.vj``, ``w.E1``, ``w.E2`` belong to them). ``tight``: iterate to ``kcl_rtol`` (a read
    stage); otherwise stop on the state criterion. Returns ``(converged, fac_ok, theta)``.
    """
    kcl_rtol, kcl_inner_rtol, refactor_ratio, newton_fraction, theta_floor, rtol, atol = opts
    nj = top.nj
    n = top.n
    res_prev = np.inf
    have_dx = False
    fresh = False
    halvings = 0
    for it in range(max_newton + 1):
        _expand(top, xs, vd, w.V)
        _stage_eval(top, ikp0, rkk, ep, ed, gmin, slope, psi, c, w.V, w.vj, sg, w.sv, w.spsi, w.G, w.E1, w.E2,
                    w.wa, w.wb, w.wk)
        res = _stage_residual(top, w.G, w.vj, w.V, vd, w.F, w.FS)
        if res <= kcl_rtol:
            return True, fac_ok, theta
        if not res < np.inf:
            return False, fac_ok, theta
        if have_dx and res > res_prev and fresh and halvings < 4:
            halvings += 1
            for i in range(n):
                w.dx[i] *= 0.5
                xs[i] = w.x_prev[i] + w.dx[i]
            continue
        if it == max_newton:
            return False, fac_ok, theta
        halvings = 0
        if have_dx:
            theta = res / res_prev
        if (not fac_ok) or (have_dx and res > refactor_ratio * res_prev):
            for k in range(nj):
                w.p[k] = w.G[k] + slope[k] * w.vj[k] * w.sv[k]
            if not _refactor(top, w):
                return False, False, theta
            fac_ok = True
            fresh = True
            stats[N_FACTOR] += 1
        else:
            fresh = False
        stats[N_NEWTON] += 1
        stats[N_SOLVES] += 1
        _newton_step(n, top.Lp, top.Li, w.Lx, w.Dinv, w.F, xs, w.dx, w.x_prev)
        res_prev = res
        have_dx = True
        if not tight and theta < 1.0 and res <= kcl_inner_rtol:
            eta = max(theta, theta_floor) / (1.0 - theta)
            if _state_converged(top, w.dx, w.sv, sg, w.wa, eta, newton_fraction, rtol, atol):
                # the state and voltages take the last correction (w.wa) to first order
                for k in range(nj):
                    dv = w.wa[k]
                    sg[k] += w.sv[k] * dv
                    w.vj[k] += dv
                    w.G[k] = gmin[k] + slope[k] * sg[k]
                return True, fac_ok, theta
    return False, fac_ok, theta


@nb.njit(cache=True, error_model="numpy")
def _filtered_error(top, w, slope, kp0, kd0, err, clip, s, s_new, rtol, atol, tau_left):
    """The error ratio of a step: ``err`` filtered by ``(I - c J)^-1`` with the factor at hand (the
    junctions' ``spsi`` and, through the nodal solve, their coupling), plus the limited amounts
    ``clip``, over ``atol + rtol max(|s|, |s_new|)``; junctions that relax before the end of the
    sample are discounted by ``exp(-tau_left (kp + kd))`` (``tau_left`` < 0: no discount, the step
    is read). Returns ``(largest ratio, its junction, whether 0 <= s_new <= 1)``."""
    n, nj = top.n, top.nj
    F = w.F
    F[:] = 0.0
    for k in range(nj):
        q = w.vj[k] * slope[k] * (w.spsi[k] * err[k])
        F[top.ua[k]] -= q
        F[top.ub[k]] += q
    F[n] = 0.0
    ldl_solve(n, top.Lp, top.Li, w.Lx, w.Dinv, F)
    discount = tau_left >= 0.0
    if discount:
        for k in range(nj):
            w.wa[k] = -tau_left * (kp0[k] / w.E1[k] + kd0[k] * w.E2[k])
        exp_nonpositive(w.wa, w.wb, w.wk)
    # the ratios (into wa), then their largest and the bounds, in loops that vectorise
    ratio = w.wa
    for k in range(nj):
        dv = F[top.ua[k]] - F[top.ub[k]]
        ek = abs(w.spsi[k] * err[k] + w.sv[k] * dv) + clip[k] * w.spsi[k]
        ratio[k] = ek / (atol + rtol * max(abs(s[k]), abs(s_new[k])))
    if discount:
        for k in range(nj):
            ratio[k] *= w.wb[k]
    enorm = -1.0
    n_nan = 0
    n_out = 0
    for k in range(nj):
        r = ratio[k]
        enorm = max(enorm, r)
        n_nan += r != r
        n_out += not (s_new[k] >= 0.0 and s_new[k] <= 1.0)
    # the worst junction: the first largest ratio, or the last that is not a number
    k_worst = 0
    if n_nan > 0:
        enorm = np.nan
        for k in range(nj):
            if ratio[k] != ratio[k]:
                k_worst = k
    else:
        for k in range(nj):
            if ratio[k] == enorm:
                k_worst = k
                break
    return enorm, k_worst, n_out == 0


@nb.njit(cache=True, error_model="numpy")
def _grown_step(h, enorm, order):
    """The next step after an accepted one whose error estimate is ``O(h^order)``."""
    if enorm == 0.0:
        return h * _FAC_MAX
    return h * min(_FAC_MAX, max(0.2, 0.9 * enorm ** (-1.0 / order)))


@nb.njit(cache=True, error_model="numpy")
def _rejected_step(h, enorm, t, rej_t, rej_h, rej_e, order, order_lo, order_hi):
    """The retry after a rejected step: the error taken as ``O(h^order)``, or with the order that the
    last two rejections at the same time showed (limited to [order_lo, order_hi])."""
    if not (enorm < np.inf) or enorm <= 1.0:
        return 0.25 * h
    pw = order
    if rej_t == t and rej_e > enorm:
        pw = math.log(rej_e / enorm) / math.log(rej_h / h)
        pw = min(max(pw, order_lo), order_hi)
    return h * max(1e-4, 0.9 * enorm ** (-1.0 / pw))


@nb.njit(cache=True, error_model="numpy")
def _fail_info(info, t, h, worst_k, worst_r, newton_failed, g_lo, g_hi, kcl_max, kcl_inner):
    """The diagnostics of a series whose step fell below ``h_min`` (status 1)."""
    info[I_T] = t
    info[I_H] = h
    info[I_WORST_K] = worst_k
    info[I_WORST_RATIO] = worst_r
    info[I_NEWTON_FAILED] = 1.0 if newton_failed else 0.0
    info[I_G_MIN] = g_lo
    info[I_G_MAX] = g_hi
    info[I_KCL_MAX] = kcl_max
    info[I_KCL_INNER] = kcl_inner


@nb.njit(cache=True, error_model="numpy")
def _read(top, gmin, slope, s, x, vd, V, out_V, out_I, out_P, out_G, row):
    """The reading at the end of a hold into row ``row`` (``V`` is Kirchhoff-consistent with ``x``
    and ``s`` there)."""
    nj = top.nj
    _expand(top, x, vd, V)
    for e in range(top.elec_node.size):
        out_V[row, e] = V[top.elec_node[e]]
        out_I[row, e] = 0.0
    for q in range(top.src_br.size):
        k = top.src_br[q]
        ea = top.br_ea[k]
        eb = top.br_eb[k]
        pk = (gmin[k] + slope[k] * s[k]) if k < nj else top.gfix[k - nj]
        cur = pk * (V[top.ba[k]] - V[top.bb[k]])
        if ea >= 0:
            out_I[row, ea] += cur
        if eb >= 0:
            out_I[row, eb] -= cur
    for e in range(top.elec_node.size):
        j = top.elec_nor[e]
        if j >= 0:
            out_I[row, e] = top.nor_g[j] * (vd[top.nor_pos[j]] - V[top.nor_nodes[j]])
    for i in range(top.probe.size):
        out_P[row, i] = V[top.probe[i]]
    if out_G.shape[0] > 0:
        for k in range(nj):
            out_G[row, k] = s[k]


def _esdirk3_tableau() -> dict[str, float]:
    """The coefficients of the ESDIRK3 scheme (see the module notes), from ``gamma``."""
    roots = np.roots([6.0, -18.0, 9.0, -1.0])
    gamma = float(min(roots.real[np.abs(roots.real - 0.4359) < 0.01]))
    # one Newton polish of the cubic's root to full precision
    p = ((6.0 * gamma - 18.0) * gamma + 9.0) * gamma - 1.0
    gamma -= p / ((18.0 * gamma - 36.0) * gamma + 9.0)
    a32 = (0.5 - gamma) / (2.0 * gamma)
    a31 = 1.0 - gamma - a32
    b2 = 1.0 / (12.0 * gamma - 24.0 * gamma**2)
    b3 = 0.5 - gamma - 2.0 * gamma * b2
    b1 = 1.0 - gamma - b2 - b3
    return {"gamma": gamma, "c2": 2.0 * gamma, "a21": gamma, "a31": a31, "a32": a32, "b1": b1, "b2": b2,
            "b3": b3}


#: The ESDIRK3 coefficients by name (``gamma``, ``c2``, ``a21``, ``a31``, ``a32``, ``b1``, ``b2``, ``b3``).
TABLEAU: dict[str, float] = _esdirk3_tableau()
_G3 = TABLEAU["gamma"]
_A31, _A32 = TABLEAU["a31"], TABLEAU["a32"]
_B1, _B2, _B3 = TABLEAU["b1"], TABLEAU["b2"], TABLEAU["b3"]


@nb.njit(cache=True, error_model="numpy")
def _rates(top, w, kp0, kd0, ep, ed, s, f):
    """``f = kp(v) (1 - g) - kd(v) g`` at the junction voltages of ``w.V`` and the states ``s``."""
    nj = top.nj
    for k in range(nj):
        a = abs(w.V[top.ba[k]] - w.V[top.bb[k]])
        w.wa[k] = -ep[k] * a
        w.wb[k] = -ed[k] * a
    exp_nonpositive(w.wa, w.E1, w.wk)
    exp_nonpositive(w.wb, w.E2, w.wk)
    for k in range(nj):
        f[k] = (kp0[k] / w.E1[k]) * (1.0 - s[k]) - (kd0[k] * w.E2[k]) * s[k]


@nb.njit(cache=True, error_model="numpy")
def _predict(x, x_old, f, out):
    """Stage voltages extrapolated linearly from ``x_old`` through ``x``, ``f`` times the time between
    them beyond ``x`` (``f`` = 0: ``x`` itself)."""
    if f == 0.0:
        out[:] = x
        return
    for i in range(x.size):
        out[i] = x[i] + (x[i] - x_old[i]) * f


@nb.njit(cache=True, error_model="numpy")
def _sdirk2_stages(top, w, par, opts, max_newton, s, x, x_old, t_old, t, have_old, h, vd, last, fac_ok, theta,
                   stats, x1, x2, s1, s2, psi2, psil, clip, err):
    """One SDIRK2 step attempt from ``(s, x)`` at ``t``: stage 1 into ``(s1, x1)``, stage 2 (the solution)
    into ``(s2, x2)``, the unfiltered error into ``err``. Returns ``(ok, fac_ok, theta, n_limited)``."""
    ikp0, rkk, ep, ed, gmin, slope = par
    n, nj = top.n, top.nj
    c = GAMMA * h
    _predict(x, x_old, c / (t - t_old) if have_old else 0.0, x1)
    ok, fac_ok, theta = _solve_stage(
        top, w, ikp0, rkk, ep, ed, gmin, slope, s, c, x1, vd, s1,
        False, opts, max_newton, fac_ok, theta, stats
    )
    if not ok:
        return False, fac_ok, theta, 0
    for k in range(nj):
        psi2[k] = s[k] + _EXTRAP * (s1[k] - s[k])
    n_lim = _limit(psi2, psil, clip)
    for i in range(n):
        x2[i] = x[i] + (x1[i] - x[i]) / GAMMA
    # the voltages of the last step of a sample are read: its second stage converges to kcl_rtol
    ok, fac_ok, theta = _solve_stage(
        top, w, ikp0, rkk, ep, ed, gmin, slope, psil, c, x2, vd, s2,
        last, opts, max_newton, fac_ok, theta, stats
    )
    for k in range(nj):
        err[k] = (s2[k] - psil[k]) - (s1[k] - s[k])
    return ok, fac_ok, theta, n_lim


@nb.njit(cache=True, error_model="numpy")
def _esdirk3_stages(top, w, par, opts, max_newton, s, x, x_old, t_old, t, have_old,
                    h, vd, fac_ok, theta, stats, f1, f2, x2, x3, x4, s2, s3, s4, psi, psil,
                    clip, err):
    """One ESDIRK3 step attempt from ``(s, x)`` at ``t`` with the explicit stage's rates ``f1``: stages
    2, 3 (the embedded solution) and 4 (the solution) into ``(s2, x2)``, ``(s3, x3)``,
    ``(s4, x4)``, ``psil`` left at stage 4's, the unfiltered error into ``err``. Returns ``(ok,
    fac_ok, theta, n_limited)``."""
    ikp0, rkk, ep, ed, gmin, slope = par
    n, nj = top.n, top.nj
    c = _G3 * h
    # stage 2 at t + 2 gamma h: voltages predicted from the last step, or along the tangent at t
    for k in range(nj):
        psi[k] = s[k] + c * f1[k]
    n_lim = _limit(psi, psil, clip)
    if have_old:
        # linear through the last step's stage 2 and end (a quadratic through its start as well
        # overshoots when the step grows: more Newton iterations and factorisations, measured)
        _predict(x, x_old, 2.0 * c / (t - t_old), x2)
    elif fac_ok:
        # the first step of a sample: along the tangent at t, dV/dt = -A^-1 (dF/dg) f1, with the
        # factor at hand (the plain nodal matrix A of this state, made at the source change or
        # the last read; after a rejected first attempt, that attempt's Newton matrix)
        _expand(top, x, vd, w.V)
        F = w.F
        F[:] = 0.0
        for k in range(nj):
            q = slope[k] * f1[k] * (w.V[top.ba[k]] - w.V[top.bb[k]])
            F[top.ua[k]] += q
            F[top.ub[k]] -= q
        F[n] = 0.0
        ldl_solve(n, top.Lp, top.Li, w.Lx, w.Dinv, F)
        stats[N_SOLVES] += 1
        for i in range(n):
            x2[i] = x[i] - 2.0 * c * F[i]
    else:
        x2[:] = x
    ok, fac_ok, theta = _solve_stage(
        top, w, ikp0, rkk, ep, ed, gmin, slope, psil, c, x2, vd, s2,
        False, opts, max_newton, fac_ok, theta, stats
    )
    if not ok:
        return False, fac_ok, theta, n_lim
    # stage 3 at t + h: the embedded second-order solution
    for k in range(nj):
        f2[k] = (s2[k] - psil[k]) / c
        psi[k] = s[k] + h * (_A31 * f1[k] + _A32 * f2[k])
    n_lim += _limit(psi, psil, clip)
    for i in range(n):
        x3[i] = x[i] + (x2[i] - x[i]) / (2.0 * _G3)
    ok, fac_ok, theta = _solve_stage(
        top, w, ikp0, rkk, ep, ed, gmin, slope, psil, c, x3, vd, s3,
        False, opts, max_newton, fac_ok, theta, stats
    )
    if not ok:
        return False, fac_ok, theta, n_lim
    # stage 4 at t + h: the third-order solution (at the end of a sample, its voltages are then
    # solved afresh at its state: see run_series)
    for k in range(nj):
        f3 = (s3[k] - psil[k]) / c
        psi[k] = s[k] + h * (_B1 * f1[k] + _B2 * f2[k] + _B3 * f3)
    n_lim += _limit(psi, psil, clip)
    for i in range(n):
        x4[i] = x3[i]
    ok, fac_ok, theta = _solve_stage(
        top, w, ikp0, rkk, ep, ed, gmin, slope, psil, c, x4, vd, s4,
        False, opts, max_newton, fac_ok, theta, stats
    )
    for k in range(nj):
        err[k] = s4[k] - s3[k]
    return ok, fac_ok, theta, n_lim


@nb.njit(cache=True, error_model="numpy")
def run_series(
    top,
    kp0,
    kd0,
    ep,
    ed,
    gmin,
    slope,
    rtol,
    atol,
    kcl_rtol,
    max_newton,
    h_min,
    refactor_ratio,
    newton_fraction,
    theta_floor,
    kcl_inner_rtol,
    g0,
    vd_all,
    dts,
    record,
    out_V,
    out_I,
    out_P,
    out_G,
    g_out,
    stats,
    info,
    order,
):
    """Integrate one series of held samples from the state ``g0`` with SDIRK2 (``order`` 2) or
    ESDIRK3 (``order`` 3).

    Sample ``k`` holds the sources at ``vd_all[k]`` for ``dts[k]`` seconds; where ``record[k]``,
    its reading at the end of the hold goes to the next row of ``out_V`` / ``out_I`` / ``out_P``
    (and its junction states to ``out_G``, unless that has no rows).
    The final state goes to ``g_out``; counters to ``stats``; diagnostics and the invariants
    seen at the accepted steps (smallest and largest state, largest Kirchhoff residual) to
    ``info``. Returns the status code (see the module notes).
    """
    n = top.n
    nj = top.nj
    esdirk = order == 3
    # ESDIRK3 reads the voltages of one plain nodal solve at the accepted state of a sample's last
    # step (its last stage stops like the others); SDIRK2 iterates that stage to kcl_rtol
    direct_read = esdirk
    par = (1.0 / kp0, kd0 / kp0, ep, ed, gmin, slope)
    opts = (kcl_rtol, kcl_inner_rtol, refactor_ratio, newton_fraction, theta_floor, rtol, atol)
    # the rejected-step rule: the error taken as O(h^2), or the order two rejections show, limited
    # to [lo, order] (the transient after a source change shows about h^1.7 under ESDIRK3)
    order_lo = 0.5 if esdirk else 0.2
    w = _work(top)
    s = g0.copy()
    x = np.zeros(n)
    xa = np.empty(n)  # stage voltages: SDIRK2 stage 1; ESDIRK3 stage 2
    xb = np.empty(n)  # SDIRK2 stage 2 (the solution); ESDIRK3 stage 3
    xc = np.empty(n)  # ESDIRK3 stage 4 (the solution)
    x_old = np.empty(n)  # the last accepted step's stage voltages at t_old (the predictor's anchor)
    sa = np.empty(nj)
    sb = np.empty(nj)
    sc = np.empty(nj)
    f1 = np.empty(nj)
    f2 = np.empty(nj)
    psi = np.empty(nj)
    psil = np.empty(nj)
    clip = np.empty(nj)
    err = np.empty(nj)
    s_new = sc if esdirk else sb
    x_new = xc if esdirk else xb
    vd_last = np.empty(vd_all.shape[1])
    have_vd = False
    fac_ok = False
    plain_ok = False  # the factor at hand is the plain nodal matrix of the current state
    h_next = -1.0
    h_change = -1.0  # ESDIRK3: the step the first accepted step after the last source change asked for
    theta = 1.0  # the last observed contraction of the Newton iteration
    g_lo = 1.0
    g_hi = 0.0
    kcl_max = 0.0
    kcl_inner = 0.0
    row = 0
    t_abs = 0.0
    for k_s in range(vd_all.shape[0]):
        vd = vd_all[k_s]
        span = dts[k_s]
        changed = _sources_changed(vd, vd_last, have_vd)
        if changed:
            if not _consistent_voltages(top, w, gmin, slope, s, vd, x, stats, plain_ok):
                info[I_T] = t_abs
                return 2
            fac_ok = True
            if esdirk:
                # the rates there: the explicit first stage of the next step
                _expand(top, x, vd, w.V)
                _rates(top, w, kp0, kd0, ep, ed, s, f1)
        h = h_next if h_next > 0.0 else span
        plain_ok = False
        if esdirk and changed and h_change > 0.0:
            # the transient after a change resembles the last one: start at the step it asked for
            h = min(h, h_change)
        h = min(h, span)
        after_change = changed
        t = 0.0
        worst_k = -1
        worst_r = 0.0
        rej_t = -1.0
        rej_h = 0.0
        rej_e = 0.0
        newton_failed = False
        have_old = False
        t_old = 0.0
        while span - t > 1e-12 * span:
            rem = span - t
            if h >= rem or rem - h < 0.05 * h:
                h = rem
            if h < h_min or t + h == t:
                _fail_info(info, t_abs + t, h, worst_k, worst_r, newton_failed, g_lo, g_hi, kcl_max,
                           kcl_inner)
                return 1
            last = not (span - (t + h) > 0.0)
            clip[:] = 0.0
            if esdirk:
                c = _G3 * h
                ok, fac_ok, theta, n_lim = _esdirk3_stages(
                    top, w, par, opts, max_newton, s, x, x_old, t_old, t, have_old,
                    h, vd, fac_ok, theta, stats, f1, f2, xa, xb, xc, sa, sb, sc, psi, psil,
                    clip, err,
                )
                anchor_dt = 2.0 * c
            else:
                c = GAMMA * h
                ok, fac_ok, theta, n_lim = _sdirk2_stages(
                    top, w, par, opts, max_newton, s, x, x_old, t_old, t, have_old, h, vd, last, fac_ok,
                    theta, stats, xa, xb, sa, sb, psi, psil, clip, err,
                )
                anchor_dt = c
            if not ok:
                stats[N_REJECTED] += 1
                newton_failed = True
                fac_ok = False
                h *= 0.25
                continue
            newton_failed = False
            # ---- error estimate, filtered by (I - c J)^-1 with the factor at hand
            if not fac_ok:
                for k in range(nj):
                    w.p[k] = w.G[k] + slope[k] * w.vj[k] * w.sv[k]
                if not _refactor(top, w):
                    stats[N_REJECTED] += 1
                    h *= 0.25
                    continue
                fac_ok = True
                stats[N_FACTOR] += 1
            tau_left = -1.0 if last else RELAX_DISCOUNT * (span - (t + h))
            enorm, k_worst, in_bounds = _filtered_error(
                top, w, slope, kp0, kd0, err, clip, s, s_new, rtol, atol, tau_left
            )
            stats[N_SOLVES] += 1
            r_acc = 0.0
            if enorm <= 1.0 and in_bounds:
                # the Kirchhoff residual of the state and voltages about to be accepted: a step whose
                # stopped Newton left more than the stage tolerance is retried with a fresh matrix
                _expand(top, x_new, vd, w.V)
                r_acc = _residual(top, w.G, w.V, vd, w.F, w.FS)
                if not r_acc <= (kcl_inner_rtol if direct_read or not last else kcl_rtol):
                    stats[N_REJECTED] += 1
                    fac_ok = False
                    h *= 0.5
                    continue
                if direct_read and last:
                    # the voltages that are read: one plain nodal solve at the accepted state, whose
                    # factor also gives the next sample's consistent voltages
                    if not _consistent_voltages(top, w, gmin, slope, s_new, vd, x_new, stats, False):
                        info[I_T] = t_abs + t
                        return 2
                    _expand(top, x_new, vd, w.V)
                    r_acc = _residual(top, w.G, w.V, vd, w.F, w.FS)
                    if not r_acc <= kcl_rtol:
                        stats[N_REJECTED] += 1
                        fac_ok = False
                        h *= 0.5
                        continue
                    plain_ok = True
            if enorm <= 1.0 and in_bounds:
                stats[N_STEPS] += 1
                stats[N_LIMITED] += n_lim
                for i in range(n):
                    x_old[i] = xa[i]
                    x[i] = x_new[i]
                t_old = t + anchor_dt
                have_old = True
                t = t + h
                for k in range(nj):
                    if esdirk:
                        f1[k] = (s_new[k] - psil[k]) / c  # first same as last
                    s[k] = s_new[k]
                    g_lo = min(g_lo, s_new[k])
                    g_hi = max(g_hi, s_new[k])
                if last:
                    kcl_max = max(kcl_max, r_acc)
                else:
                    kcl_inner = max(kcl_inner, r_acc)
                h = _grown_step(h, enorm, float(order))
                h_next = h
                if after_change:
                    h_change = h
                    after_change = False
            else:
                stats[N_REJECTED] += 1
                worst_k = k_worst
                worst_r = enorm
                h_new = _rejected_step(h, enorm, t, rej_t, rej_h, rej_e, 2.0, order_lo, float(order))
                rej_t = t
                rej_h = h
                rej_e = enorm
                h = h_new
        # ---- the reading at the end of the hold (V is Kirchhoff-consistent with x and s there)
        t_abs += span
        for k in range(nj):
            g_out[k] = s[k]  # the state after the last completed sample
        stats[N_SAMPLES] += 1
        for i in range(vd.size):
            vd_last[i] = vd[i]
        have_vd = True
        if record[k_s]:
            _read(top, gmin, slope, s, x, vd, w.V, out_V, out_I, out_P, out_G, row)
            row += 1
    info[I_G_MIN] = g_lo
    info[I_G_MAX] = g_hi
    info[I_KCL_MAX] = kcl_max
    info[I_KCL_INNER] = kcl_inner
    return 0
