"""Compiled SDIRK2 held-sample integration of one series on a rate-balance junction network.

The arithmetic of :mod:`nwphys.dynamics.batched`: the same scheme, error control and state limiting as
:class:`nwphys.dynamics.implicit.StiffIntegrator` (see that module's notes), written as numba loops over
the fixed index arrays of one circuit so that no Python call is made inside a series. Two
differences, both in how the stage equations are solved, not in what is solved:

* **Simplified Newton.** The Newton matrix ``A(G + w)`` is kept across iterations, stages, steps
  and samples while Newton contracts fast enough; it is refactorised (at the current iterate)
  only when the residual of the last iteration fell by less than ``refactor_ratio``, or when no
  usable factor exists (the start of a series, after a failed stage or a rejected residual).
  The error filter ``(I - c J)^-1 e`` uses the factor at hand, as Radau5 does.
* **Stopping.** The second stage of the last step of every sample (whose voltages are read)
  stops when the relative Kirchhoff residual is at most ``kcl_rtol``. Every other stage stops
  after a correction ``dx`` when the residual before it was at most ``kcl_inner_rtol`` and
  ``max(theta, theta_floor) / (1 - theta) |ds/dv dv_k| <= newton_fraction (atol + rtol |g_k|)``
  for every junction (``theta``: the last observed contraction); the state and voltages then
  take the correction to first order (``g + ds/dv dv``, no further evaluation). A step whose
  accepted state and voltages miss their Kirchhoff tolerance is retried (fresh matrix, half the
  step), so every accepted step satisfies it.

A source change at the start of a sample factorises the plain nodal matrix ``A(G)`` and solves
for the consistent voltages from 0 V (not as a correction of the old voltages, whose rounding
would stay in the new ones: with every source at 0 V it would never let the relative Kirchhoff
residual fall), and that factor becomes the Newton matrix of the first stage.

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

__all__ = ["Topology", "run_series"]

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
        "parent",  # (n,) elimination tree
        "elec_node",  # (ne,) node of every electrode
        "br_ea",  # (nb,) Dirichlet electrode at end a of the branch, -1 if none
        "br_eb",  # (nb,) same at end b
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


@nb.njit(cache=True)
def _expand(top, x, vd, V):
    for i in range(top.dir_nodes.size):
        V[top.dir_nodes[i]] = vd[top.dir_pos[i]]
    for i in range(top.n):
        V[top.unk_nodes[i]] = x[i]


_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_FAST = {"contract", "arcp", "nsz", "afn", "reassoc"}


@nb.njit(cache=True, fastmath=_FAST)
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


@nb.njit(cache=True)
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


@nb.njit(cache=True)
def _residual(top, G, V, vd, F, scale):
    """Kirchhoff imbalance at the unknowns and its relative 2-norm."""
    F[:] = 0.0
    scale[:] = 0.0
    nj = top.nj
    for k in range(top.ba.size):
        p = G[k] if k < nj else top.gfix[k - nj]
        cur = p * (V[top.ba[k]] - V[top.bb[k]])
        ia = top.ua[k]
        ib = top.ub[k]
        F[ia] += cur
        scale[ia] += abs(cur)
        F[ib] -= cur
        scale[ib] += abs(cur)
    for i in range(top.nor_u.size):
        inj = top.nor_g[i] * (vd[top.nor_pos[i]] - V[top.nor_nodes[i]])
        F[top.nor_u[i]] -= inj
        scale[top.nor_u[i]] += abs(inj)
    fn = 0.0
    sc = 0.0
    F[top.n] = 0.0
    for i in range(top.n):
        fn += F[i] * F[i]
        sc += scale[i] * scale[i]
    fn = math.sqrt(fn)
    sc = math.sqrt(sc)
    if sc > 0.0:
        return fn / sc
    return 0.0 if fn == 0.0 else np.inf


@nb.njit(cache=True)
def _factor(top, p, Ux, Li, Lx, D, wy, wpat, wflag, wlnz):
    """Assemble the upper values of the nodal matrix of branch conductances ``p`` and factorise."""
    Ux[:] = 0.0
    for k in range(top.ba.size):
        pk = p[k]
        Ux[top.pos_a[k]] += pk
        Ux[top.pos_b[k]] += pk
        Ux[top.pos_o[k]] -= pk
    for i in range(top.nor_u.size):
        Ux[top.nor_diag[i]] += top.nor_g[i]
    return ldl_numeric(top.n, top.Up, top.Ui, Ux, top.Lp, top.parent, Li, Lx, D, wy, wpat, wflag, wlnz)


@nb.njit(cache=True)
def _newton_step(n, Lp, Li, Lx, D, F, x, dx, x_prev):
    """One Newton correction with the factor at hand: ``dx = -A^-1 F``, ``x_prev = x``, ``x += dx``."""
    for i in range(n):
        dx[i] = -F[i]
    ldl_solve(n, Lp, Li, Lx, D, dx)
    for i in range(n):
        x_prev[i] = x[i]
        x[i] += dx[i]


@nb.njit(cache=True)
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
):
    """Integrate one series of held samples from the state ``g0``.

    Sample ``k`` holds the sources at ``vd_all[k]`` for ``dts[k]`` seconds; where ``record[k]``,
    its reading at the end of the hold goes to the next row of ``out_V`` / ``out_I`` / ``out_P``
    (and its junction states to ``out_G``, unless that has no rows).
    The final state goes to ``g_out``; counters to ``stats``; diagnostics and the invariants
    seen at the accepted steps (smallest and largest state, largest Kirchhoff residual) to
    ``info``. Returns the status code (see the module notes).
    """
    n = top.n
    nj = top.nj
    nb_ = top.ba.size
    n_nodes = top.n_nodes
    ikp0 = 1.0 / kp0
    rkk = kd0 / kp0
    nnz_l = top.Lp[n]
    Ux = np.empty(top.Ui.size + 1)
    Li = np.empty(nnz_l, dtype=np.int64)
    Lx = np.empty(nnz_l)
    D = np.empty(n)
    wy = np.zeros(n)
    wpat = np.empty(n, dtype=np.int64)
    wflag = np.empty(n, dtype=np.int64)
    wlnz = np.empty(n, dtype=np.int64)
    V = np.zeros(n_nodes)
    F = np.zeros(n + 1)
    scale = np.zeros(n + 1)
    p = np.empty(nb_)
    for k in range(nj, nb_):
        p[k] = top.gfix[k - nj]
    # states and stage quantities
    s = g0.copy()
    x = np.zeros(n)
    x1 = np.empty(n)
    x2 = np.empty(n)
    x_old = np.empty(n)
    xs = np.empty(n)
    x_prev = np.empty(n)
    dx = np.zeros(n + 1)
    vj = np.empty(nj)
    s1 = np.empty(nj)
    s2 = np.empty(nj)
    sv = np.empty(nj)
    spsi = np.empty(nj)
    G = np.empty(nj)
    psi2 = np.empty(nj)
    psil = np.empty(nj)
    err = np.empty(nj)
    E1 = np.empty(nj)
    E2 = np.empty(nj)
    wa = np.empty(nj)
    wb = np.empty(nj)
    wk = np.empty(nj, dtype=np.int64)
    vd_last = np.empty(vd_all.shape[1])
    have_vd = False
    fac_ok = False
    h_next = -1.0
    theta = 1.0  # the last observed contraction of the Newton iteration
    g_lo = 1.0
    g_hi = 0.0
    kcl_max = 0.0
    kcl_inner = 0.0
    res = 0.0
    row = 0
    t_abs = 0.0
    for k_s in range(vd_all.shape[0]):
        vd = vd_all[k_s]
        span = dts[k_s]
        changed = not have_vd
        if have_vd:
            for i in range(vd.size):
                if vd[i] != vd_last[i]:
                    changed = True
        if changed:
            # consistent voltages after the change of the sources: one plain nodal solve from 0 V,
            # so that its rounding is relative to the new voltages, not to the old ones (a
            # correction of the old ones towards sources at 0 V would leave a residue whose
            # relative Kirchhoff residual never falls)
            x[:] = 0.0
            _expand(top, x, vd, V)
            for k in range(nj):
                G[k] = gmin[k] + slope[k] * s[k]
                p[k] = G[k]
            _residual(top, G, V, vd, F, scale)
            if not _factor(top, p, Ux, Li, Lx, D, wy, wpat, wflag, wlnz):
                info[I_T] = t_abs
                return 2
            stats[N_FACTOR] += 1
            stats[N_SOLVES] += 1
            _newton_step(n, top.Lp, Li, Lx, D, F, x, dx, x_prev)
            fac_ok = True
        h = h_next if h_next > 0.0 else span
        h = min(h, span)
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
                info[I_T] = t_abs + t
                info[I_H] = h
                info[I_WORST_K] = worst_k
                info[I_WORST_RATIO] = worst_r
                info[I_NEWTON_FAILED] = 1.0 if newton_failed else 0.0
                info[I_G_MIN] = g_lo
                info[I_G_MAX] = g_hi
                info[I_KCL_MAX] = kcl_max
                info[I_KCL_INNER] = kcl_inner
                return 1
            c = GAMMA * h
            if have_old:
                f = c / (t - t_old)
                for i in range(n):
                    x1[i] = x[i] + (x[i] - x_old[i]) * f
            else:
                x1[:] = x
            # the voltages of the last step of a sample are read: its second stage converges to
            # kcl_rtol; every other stage stops once a Newton correction is negligible for the states
            last = not (span - (t + h) > 0.0)
            ok = True
            for stage in range(2):
                if stage == 0:
                    psi = s
                    xs = x1
                else:
                    for k in range(nj):
                        psi2[k] = s[k] + _EXTRAP * (s1[k] - s[k])
                        psil[k] = min(max(psi2[k], 0.0), 1.0)
                    psi = psil
                    for i in range(n):
                        x2[i] = x[i] + (x1[i] - x[i]) / GAMMA
                    xs = x2
                res_prev = np.inf
                have_dx = False
                fresh = False
                halvings = 0
                converged = False
                for it in range(max_newton + 1):
                    _expand(top, xs, vd, V)
                    _stage_eval(
                        top,
                        ikp0,
                        rkk,
                        ep,
                        ed,
                        gmin,
                        slope,
                        psi,
                        c,
                        V,
                        vj,
                        s2,
                        sv,
                        spsi,
                        G,
                        E1,
                        E2,
                        wa,
                        wb,
                        wk,
                    )
                    res = _residual(top, G, V, vd, F, scale)
                    if res <= kcl_rtol:
                        converged = True
                        break
                    if not res < np.inf:
                        break
                    if have_dx and res > res_prev and fresh and halvings < 4:
                        halvings += 1
                        for i in range(n):
                            dx[i] *= 0.5
                            xs[i] = x_prev[i] + dx[i]
                        continue
                    if it == max_newton:
                        break
                    halvings = 0
                    if have_dx:
                        theta = res / res_prev
                    if (not fac_ok) or (have_dx and res > refactor_ratio * res_prev):
                        for k in range(nj):
                            p[k] = G[k] + slope[k] * vj[k] * sv[k]
                        if not _factor(top, p, Ux, Li, Lx, D, wy, wpat, wflag, wlnz):
                            fac_ok = False
                            break
                        fac_ok = True
                        fresh = True
                        stats[N_FACTOR] += 1
                    else:
                        fresh = False
                    stats[N_NEWTON] += 1
                    stats[N_SOLVES] += 1
                    _newton_step(n, top.Lp, Li, Lx, D, F, xs, dx, x_prev)
                    res_prev = res
                    have_dx = True
                    if stage == 0 or not last:
                        small = theta < 1.0 and res <= kcl_inner_rtol
                        eta = max(theta, theta_floor) / (1.0 - theta) if small else 0.0
                        for k in range(nj):
                            if not small:
                                break
                            dv = dx[top.ua[k]] - dx[top.ub[k]]
                            if eta * abs(sv[k] * dv) > newton_fraction * (atol + rtol * abs(s2[k])):
                                small = False
                                break
                        if small:
                            for k in range(nj):
                                dv = dx[top.ua[k]] - dx[top.ub[k]]
                                s2[k] += sv[k] * dv
                                vj[k] += dv
                                G[k] = gmin[k] + slope[k] * s2[k]
                            converged = True
                            break
                if not converged:
                    ok = False
                    break
                if stage == 0:
                    for k in range(nj):
                        s1[k] = s2[k]
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
                    p[k] = G[k] + slope[k] * vj[k] * sv[k]
                if not _factor(top, p, Ux, Li, Lx, D, wy, wpat, wflag, wlnz):
                    stats[N_REJECTED] += 1
                    h *= 0.25
                    continue
                fac_ok = True
                stats[N_FACTOR] += 1
            F[:] = 0.0
            for k in range(nj):
                e = (s2[k] - psil[k]) - (s1[k] - s[k])
                err[k] = e
                q = vj[k] * slope[k] * (spsi[k] * e)
                F[top.ua[k]] -= q
                F[top.ub[k]] += q
            F[n] = 0.0
            ldl_solve(n, top.Lp, Li, Lx, D, F)
            stats[N_SOLVES] += 1
            enorm = -1.0
            k_worst = 0
            n_lim = 0
            in_bounds = True
            if not last:
                # discount of the junctions that relax before the end of the sample
                tau_left = RELAX_DISCOUNT * (span - (t + h))
                for k in range(nj):
                    wa[k] = -tau_left * (kp0[k] / E1[k] + kd0[k] * E2[k])
                exp_nonpositive(wa, wb, wk)
            for k in range(nj):
                dv = F[top.ua[k]] - F[top.ub[k]]
                ek = abs(spsi[k] * err[k] + sv[k] * dv)
                if psil[k] != psi2[k]:
                    n_lim += 1
                    ek += abs(psi2[k] - psil[k]) * spsi[k]
                r = ek / (atol + rtol * max(abs(s[k]), abs(s2[k])))
                if not last:
                    r *= wb[k]
                if r > enorm or r != r:
                    enorm = r
                    k_worst = k
                if not (s2[k] >= 0.0 and s2[k] <= 1.0):
                    in_bounds = False
            r_acc = 0.0
            if enorm <= 1.0 and in_bounds:
                # the Kirchhoff residual of the state and voltages about to be accepted: a step whose
                # stopped Newton left more than the stage tolerance is retried with a fresh matrix
                _expand(top, x2, vd, V)
                r_acc = _residual(top, G, V, vd, F, scale)
                if not r_acc <= (kcl_rtol if last else kcl_inner_rtol):
                    stats[N_REJECTED] += 1
                    fac_ok = False
                    h *= 0.5
                    continue
            if enorm <= 1.0 and in_bounds:
                stats[N_STEPS] += 1
                stats[N_LIMITED] += n_lim
                for i in range(n):
                    x_old[i] = x1[i]
                t_old = t + c
                have_old = True
                t = t + h
                for k in range(nj):
                    s[k] = s2[k]
                    g_lo = min(g_lo, s2[k])
                    g_hi = max(g_hi, s2[k])
                for i in range(n):
                    x[i] = x2[i]
                if last:
                    kcl_max = max(kcl_max, r_acc)
                else:
                    kcl_inner = max(kcl_inner, r_acc)
                if enorm == 0.0:
                    fac = _FAC_MAX
                else:
                    fac = min(_FAC_MAX, max(0.2, 0.9 * enorm**-0.5))
                h = h * fac
                h_next = h
            else:
                stats[N_REJECTED] += 1
                worst_k = k_worst
                worst_r = enorm
                if not (enorm < np.inf) or enorm <= 1.0:
                    h_new = 0.25 * h
                else:
                    pw = 0.5
                    if rej_t == t and rej_e > enorm:
                        pw = math.log(rej_e / enorm) / math.log(rej_h / h)
                        pw = min(max(pw, 0.2), 2.0)
                    if pw != 0.5:
                        h_new = h * max(1e-4, 0.9 * enorm ** (-1.0 / pw))
                    else:
                        h_new = h * max(1e-4, 0.9 * enorm**-0.5)
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
            _expand(top, x, vd, V)
            for e in range(top.elec_node.size):
                out_V[row, e] = V[top.elec_node[e]]
                out_I[row, e] = 0.0
            for k in range(nb_):
                ea = top.br_ea[k]
                eb = top.br_eb[k]
                if ea >= 0 or eb >= 0:
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
            row += 1
    info[I_G_MIN] = g_lo
    info[I_G_MAX] = g_hi
    info[I_KCL_MAX] = kcl_max
    info[I_KCL_INNER] = kcl_inner
    return 0
