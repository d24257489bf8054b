"""The batched engine's torch path: all series of a batch advance together, for GPUs.

The same scheme, error control, simplified Newton and stopping rules as the compiled kernel
(:mod:`nwphys.dynamics._sdirk_kernels`, see its notes), written over tensors whose first dimension is the
series. Each series keeps its own step size, sample, Newton matrix and error control: a step
*attempt* is taken by every running series at once, each with its own ``h``; masks decide per
series what is accepted, rejected, refactorised or read. The Newton matrices are dense
``(B, n, n)`` and factorised by batched Cholesky (:func:`torch.linalg.cholesky_ex`), which is
what a GPU does well for networks of a few hundred nodes; the compiled kernel's sparse LDL^T is
the better choice on a CPU core.

Results equal the compiled kernel's to rounding as long as no step decision falls on the other
side of a threshold; both satisfy the same tolerances (tested against each other in float64).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

GAMMA = 1.0 - 1.0 / math.sqrt(2.0)
_EXTRAP = (1.0 - GAMMA) / GAMMA
_FAC_MAX = 10.0
RELAX_DISCOUNT = 0.5


class TorchRun:
    """One :meth:`~nwphys.dynamics.BatchedEngine.run` on torch tensors (internal; see the module notes)."""

    def __init__(self, engine: Any, device: str) -> None:
        import torch

        self.torch = torch
        self.e = engine
        self.dev = torch.device(device)
        top = engine._top
        t = lambda a, dt=torch.float64: torch.as_tensor(np.asarray(a), dtype=dt, device=self.dev)  # noqa: E731
        L = torch.long
        self.n, self.nj, self.n_nodes = int(top.n), int(top.nj), int(top.n_nodes)
        self.ba, self.bb, self.ua, self.ub = t(top.ba, L), t(top.bb, L), t(top.ua, L), t(top.ub, L)
        self.gfix = t(top.gfix)
        self.unk_nodes, self.dir_nodes, self.dir_pos = (
            t(top.unk_nodes, L),
            t(top.dir_nodes, L),
            t(top.dir_pos, L),
        )
        self.nor_u, self.nor_nodes, self.nor_pos = t(top.nor_u, L), t(top.nor_nodes, L), t(top.nor_pos, L)
        self.nor_g = t(top.nor_g)
        self.elec_node, self.br_ea, self.br_eb = t(top.elec_node, L), t(top.br_ea, L), t(top.br_eb, L)
        self.elec_nor = t(top.elec_nor, L)
        self.probe = t(top.probe, L)
        kp0, kd0, ep, ed, gmin, slope = engine._par
        self.kp0, self.kd0, self.ep, self.ed = t(kp0), t(kd0), t(ep), t(ed)
        self.gmin, self.slope = t(gmin), t(slope)
        self.ikp0, self.rkk = 1.0 / self.kp0, self.kd0 / self.kp0

    # ------------------------------------------------------------------ pieces (over a subset of series)
    def expand(self, x: Any, vd: Any) -> Any:
        V = x.new_zeros((x.shape[0], self.n_nodes))
        V[:, self.dir_nodes] = vd[:, self.dir_pos]
        V[:, self.unk_nodes] = x[:, : self.n]
        return V

    def stage_eval(self, psi: Any, c: Any, V: Any) -> tuple[Any, ...]:
        torch = self.torch
        nj = self.nj
        v = V[:, self.ba[:nj]] - V[:, self.bb[:nj]]
        a = v.abs()
        E1 = torch.exp(-self.ep * a)
        E2 = torch.exp(-self.ed * a)
        q = E1 / c[:, None] * self.ikp0
        r = E1 * E2 * self.rkk
        inv = 1.0 / (q + r + 1.0)
        g = (psi * q + 1.0) * inv
        d = ((1.0 - g) * self.ep + (r * g) * self.ed) * inv * torch.sign(v)
        G = self.gmin + self.slope * g
        return v, g, d, q * inv, G, E1, E2

    def branch_p(self, G: Any) -> Any:
        return self.torch.cat([G, self.gfix.expand(G.shape[0], -1)], dim=1)

    def residual(self, G: Any, V: Any, vd: Any) -> tuple[Any, Any]:
        torch = self.torch
        B = G.shape[0]
        p = self.branch_p(G)
        cur = p * (V[:, self.ba] - V[:, self.bb])
        F = G.new_zeros((B, self.n + 1))
        sc = G.new_zeros((B, self.n + 1))
        F.index_add_(1, self.ua, cur)
        F.index_add_(1, self.ub, -cur)
        sc.index_add_(1, self.ua, cur.abs())
        sc.index_add_(1, self.ub, cur.abs())
        if self.nor_u.numel():
            inj = self.nor_g * (vd[:, self.nor_pos] - V[:, self.nor_nodes])
            F.index_add_(1, self.nor_u, -inj)
            sc.index_add_(1, self.nor_u, inj.abs())
        F[:, self.n] = 0.0
        sc[:, self.n] = 0.0
        fn = torch.linalg.vector_norm(F, dim=1)
        sn = torch.linalg.vector_norm(sc, dim=1)
        rel = torch.where(sn > 0, fn / torch.where(sn > 0, sn, 1.0), torch.where(fn == 0, 0.0, math.inf))
        return F, rel

    def factor(self, p: Any) -> tuple[Any, Any]:
        """Dense Cholesky factors of the nodal matrices of branch conductances ``p`` (B, nb)."""
        torch = self.torch
        B, n = p.shape[0], self.n
        A = p.new_zeros((B, (n + 1) * (n + 1)))
        ia, ib = self.ua, self.ub
        A.index_add_(1, ia * (n + 1) + ia, p)
        A.index_add_(1, ib * (n + 1) + ib, p)
        A.index_add_(1, ia * (n + 1) + ib, -p)
        A.index_add_(1, ib * (n + 1) + ia, -p)
        if self.nor_u.numel():
            A.index_add_(1, self.nor_u * (n + 1) + self.nor_u, self.nor_g.expand(B, -1))
        A = A.view(B, n + 1, n + 1)[:, :n, :n]
        Lf, info = torch.linalg.cholesky_ex(A)
        return Lf, info == 0

    def solve(self, Lf: Any, rhs: Any) -> Any:
        """``A^-1 rhs`` for rhs (B, n + 1) with the spare slot kept at zero."""
        out = rhs.clone()
        out[:, : self.n] = self.torch.cholesky_solve(rhs[:, : self.n, None], Lf)[..., 0]
        out[:, self.n] = 0.0
        return out

    def dv_of(self, dx: Any) -> Any:
        nj = self.nj
        return dx[:, self.ua[:nj]] - dx[:, self.ub[:nj]]

    def newton_p(self, G: Any, vj: Any, sv: Any) -> Any:
        return self.branch_p(G + self.slope * vj * sv)

    # ------------------------------------------------------------------ the run
    def run(
        self,
        drives: list[np.ndarray],
        dts: list[np.ndarray],
        recs: list[np.ndarray],
        g0: np.ndarray,
        keep_states: bool,
    ) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        torch = self.torch
        e = self.e
        B, n, nj = len(drives), self.n, self.nj
        T = max(d.shape[0] for d in drives)
        nd = drives[0].shape[1]
        f64 = dict(dtype=torch.float64, device=self.dev)
        VD = torch.zeros((B, T, nd), **f64)
        DT = torch.ones((B, T), **f64)
        REC = torch.zeros((B, T), dtype=torch.bool, device=self.dev)
        for b, (d, dt, r) in enumerate(zip(drives, dts, recs, strict=True)):
            VD[b, : d.shape[0]] = torch.as_tensor(d, **f64)
            DT[b, : d.shape[0]] = torch.as_tensor(dt, **f64)
            REC[b, : d.shape[0]] = torch.as_tensor(r, device=self.dev)
        length = torch.as_tensor([d.shape[0] for d in drives], device=self.dev)
        ne, npr = int(self.elec_node.numel()), int(self.probe.numel())
        oV = torch.full((B, T, ne), math.nan, **f64)
        oI = torch.full((B, T, ne), math.nan, **f64)
        oP = torch.full((B, T, npr), math.nan, **f64)
        oG = torch.full((B, T if keep_states else 0, nj), math.nan, **f64)
        s = torch.as_tensor(np.array(g0, dtype=float), **f64)
        g_out = s.clone()
        x = torch.zeros((B, n + 1), **f64)
        Lf = torch.zeros((B, n, n), **f64)
        fac_ok = torch.zeros(B, dtype=torch.bool, device=self.dev)
        theta = torch.ones(B, **f64)
        h_next = torch.full((B,), -1.0, **f64)
        ks = torch.zeros(B, dtype=torch.long, device=self.dev)
        status = torch.zeros(B, dtype=torch.long, device=self.dev)  # 0 running, 1 done, 2 failed
        start = torch.ones(B, dtype=torch.bool, device=self.dev)
        have_vd = torch.zeros(B, dtype=torch.bool, device=self.dev)
        vd_last = torch.zeros((B, nd), **f64)
        t = torch.zeros(B, **f64)
        h = torch.zeros(B, **f64)
        t_abs = torch.zeros(B, **f64)
        have_old = torch.zeros(B, dtype=torch.bool, device=self.dev)
        x_old = torch.zeros((B, n + 1), **f64)
        t_old = torch.zeros(B, **f64)
        rej_t = torch.full((B,), -1.0, **f64)
        rej_h = torch.zeros(B, **f64)
        rej_e = torch.zeros(B, **f64)
        worst_k = torch.full((B,), -1.0, **f64)
        worst_r = torch.zeros(B, **f64)
        newton_failed = torch.zeros(B, dtype=torch.bool, device=self.dev)
        stats = torch.zeros((B, 7), dtype=torch.long, device=self.dev)
        info = torch.zeros((B, 9), **f64)
        g_lo = torch.ones(B, **f64)
        g_hi = torch.zeros(B, **f64)
        kcl_max = torch.zeros(B, **f64)
        kcl_inner = torch.zeros(B, **f64)
        rows = torch.arange(B, device=self.dev)
        status[length == 0] = 1
        while bool((status == 0).any()):
            run_ = status == 0
            kk = ks.clamp(max=T - 1)
            vd = VD[rows, kk]
            span = DT[rows, kk]
            # ---- the start of a sample: consistent voltages after a change of the sources
            st = run_ & start
            if bool(st.any()):
                changed = st & (~have_vd | (vd != vd_last).any(dim=1))
                if bool(changed.any()):
                    idx = changed.nonzero()[:, 0]
                    G0 = self.gmin + self.slope * s[idx]
                    x[idx] = 0.0  # solved from 0 V: rounding relative to the new voltages
                    F0, _ = self.residual(G0, self.expand(x[idx], vd[idx]), vd[idx])
                    Lc, ok = self.factor(self.branch_p(G0))
                    bad = idx[~ok]
                    status[bad] = 2
                    info[bad, 0] = t_abs[bad]
                    Lf[idx] = Lc
                    x[idx] = x[idx] + self.solve(Lc, -F0)
                    fac_ok[idx] = ok
                    stats[idx, 2] += 1
                    stats[idx, 4] += 1
                hn = torch.where(h_next > 0, h_next, span)
                h = torch.where(st, torch.minimum(hn, span), h)
                t = torch.where(st, 0.0, t)
                have_old = have_old & ~st
                rej_t = torch.where(st, -1.0, rej_t)
                worst_k = torch.where(st, -1.0, worst_k)
                worst_r = torch.where(st, 0.0, worst_r)
                newton_failed = newton_failed & ~st
                start = start & ~st
                run_ = status == 0
            rem = span - t
            h = torch.where(run_ & ((h >= rem) | (rem - h < 0.05 * h)), rem, h)
            under = run_ & ((h < e.h_min_s) | (t + h == t))
            if bool(under.any()):
                status[under] = 2
                info[under, 0] = t_abs[under] + t[under]
                info[under, 1] = h[under]
                info[under, 2] = worst_k[under]
                info[under, 3] = worst_r[under]
                info[under, 4] = newton_failed[under].double()
                run_ = status == 0
            idx = run_.nonzero()[:, 0]
            if idx.numel() == 0:
                continue
            state = dict(
                s=s,
                x=x,
                Lf=Lf,
                fac_ok=fac_ok,
                theta=theta,
                h=h,
                t=t,
                span=span,
                vd=vd,
                have_old=have_old,
                x_old=x_old,
                t_old=t_old,
                stats=stats,
                rej_t=rej_t,
                rej_h=rej_h,
                rej_e=rej_e,
                worst_k=worst_k,
                worst_r=worst_r,
                newton_failed=newton_failed,
                g_lo=g_lo,
                g_hi=g_hi,
                kcl_max=kcl_max,
                kcl_inner=kcl_inner,
                h_next=h_next,
            )
            self._attempt(idx, state)  # updates these tensors in place
            # ---- samples completed: read, move on
            fin = run_ & (span - t <= 1e-12 * span) & (status == 0)
            if bool(fin.any()):
                fi = fin.nonzero()[:, 0]
                kf = ks[fi]
                t_abs[fi] += span[fi]
                g_out[fi] = s[fi]
                stats[fi, 6] += 1
                vd_last[fi] = vd[fi]
                have_vd[fi] = True
                recf = REC[fi, kf]
                ri = fi[recf]
                if ri.numel():
                    kr = ks[ri]
                    Vr = self.expand(x[ri], vd[ri])
                    oV[ri, kr] = Vr[:, self.elec_node]
                    p = self.branch_p(self.gmin + self.slope * s[ri])
                    cur = p * (Vr[:, self.ba] - Vr[:, self.bb])
                    I = Vr.new_zeros((ri.numel(), ne + 1))
                    I.index_add_(1, torch.where(self.br_ea >= 0, self.br_ea, ne), cur)
                    I.index_add_(1, torch.where(self.br_eb >= 0, self.br_eb, ne), -cur)
                    I = I[:, :ne]
                    nor = (self.elec_nor >= 0).nonzero()[:, 0]
                    if nor.numel():
                        j = self.elec_nor[nor]
                        I[:, nor] = self.nor_g[j] * (vd[ri][:, self.nor_pos[j]] - Vr[:, self.nor_nodes[j]])
                    oI[ri, kr] = I
                    if npr:
                        oP[ri, kr] = Vr[:, self.probe]
                    if keep_states:
                        oG[ri, kr] = s[ri]
                ks[fi] += 1
                start[fi] = True
                status[fi[ks[fi] >= length[fi]]] = 1
        info[:, 5], info[:, 6], info[:, 7], info[:, 8] = g_lo, g_hi, kcl_max, kcl_inner
        out = []
        for b in range(B):
            Tb, rb = drives[b].shape[0], REC[b, : drives[b].shape[0]]
            code = 0 if int(status[b]) == 1 else (1 if info[b, 1] > 0 or info[b, 3] != 0 else 2)
            out.append(
                (
                    code,
                    oV[b, :Tb][rb].cpu().numpy(),
                    oI[b, :Tb][rb].cpu().numpy(),
                    oP[b, :Tb][rb].cpu().numpy(),
                    (oG[b, :Tb][rb] if keep_states else oG[b]).cpu().numpy(),
                    g_out[b].cpu().numpy(),
                    stats[b].cpu().numpy(),
                    info[b].cpu().numpy(),
                )
            )
        return out

    def _attempt(self, idx: Any, S: dict[str, Any]) -> None:
        """One step attempt of the running series ``idx`` (updates the tensors in ``S`` in place
        or replaces them in ``S``)."""
        torch = self.torch
        e = self.e
        n, nj = self.n, self.nj
        s, x, Lf = S["s"][idx], S["x"][idx], S["Lf"][idx]
        fac_ok, theta = S["fac_ok"][idx].clone(), S["theta"][idx].clone()
        h, t, span, vd = S["h"][idx], S["t"][idx], S["span"][idx], S["vd"][idx]
        stats = S["stats"]
        m = idx.numel()
        c = GAMMA * h
        last = ~(span - (t + h) > 0.0)
        have_old = S["have_old"][idx]
        denom = torch.where(have_old, t - S["t_old"][idx], 1.0)
        fpred = torch.where(have_old, c / denom, 0.0)
        x1 = x + (x - S["x_old"][idx]) * fpred[:, None]
        ok = torch.ones(m, dtype=torch.bool, device=self.dev)
        results = []
        psi = s
        xs = x1
        for stage in range(2):
            if stage == 1:
                s1 = results[0][1]
                psi2 = s + _EXTRAP * (s1 - s)
                psil = psi2.clamp(0.0, 1.0)
                psi = psil
                xs = x + (results[0][0] - x) / GAMMA
            xs = xs.clone()
            res_prev = torch.full((m,), math.inf, dtype=torch.float64, device=self.dev)
            have_dx = torch.zeros(m, dtype=torch.bool, device=self.dev)
            fresh = torch.zeros(m, dtype=torch.bool, device=self.dev)
            halv = torch.zeros(m, dtype=torch.long, device=self.dev)
            conv = torch.zeros(m, dtype=torch.bool, device=self.dev)
            act = ok.clone()
            dx = torch.zeros((m, n + 1), dtype=torch.float64, device=self.dev)
            x_prev = xs.clone()
            vj = g2 = sv = sp = G = E1 = E2 = res = None
            strict = last if stage == 1 else torch.zeros(m, dtype=torch.bool, device=self.dev)
            for it in range(e.max_newton + 1):
                V = self.expand(xs, vd)
                vj_n, g_n, sv_n, sp_n, G_n, E1_n, E2_n = self.stage_eval(psi, c, V)
                F, res_n = self.residual(G_n, V, vd)
                if vj is None:
                    vj, g2, sv, sp, G, E1, E2, res = vj_n, g_n, sv_n, sp_n, G_n, E1_n, E2_n, res_n
                else:
                    w = act[:, None]
                    vj, g2, sv, sp = (
                        torch.where(w, a, b_) for a, b_ in ((vj_n, vj), (g_n, g2), (sv_n, sv), (sp_n, sp))
                    )
                    G, E1, E2 = (torch.where(w, a, b_) for a, b_ in ((G_n, G), (E1_n, E1), (E2_n, E2)))
                    res = torch.where(act, res_n, res)
                done_now = act & (res <= e.kcl_rtol)
                conv |= done_now
                act &= ~done_now
                bad = act & ~(res < math.inf)
                ok &= ~bad
                act &= ~bad
                halve = act & have_dx & (res > res_prev) & fresh & (halv < 4)
                if bool(halve.any()):
                    halv = torch.where(halve, halv + 1, halv)
                    dx = torch.where(halve[:, None], 0.5 * dx, dx)
                    xs = torch.where(halve[:, None], x_prev + dx, xs)
                step_ = act & ~halve
                if it == e.max_newton:
                    ok &= ~step_
                    act &= ~step_
                    break
                if not bool(step_.any()):
                    if not bool(act.any()):
                        break
                    continue
                halv = torch.where(step_, 0, halv)
                theta = torch.where(step_ & have_dx, res / res_prev, theta)
                refac = step_ & (~fac_ok | (have_dx & (res > e.refactor_ratio * res_prev)))
                if bool(refac.any()):
                    ri = refac.nonzero()[:, 0]
                    Ln, good = self.factor(self.newton_p(G[ri], vj[ri], sv[ri]))
                    Lf[ri] = torch.where(good[:, None, None], Ln, Lf[ri])
                    fac_ok[ri] = good
                    badf = ri[~good]
                    ok[badf] = False
                    act[badf] = False
                    stats[idx[ri[good]], 2] += 1
                    step_ &= ok
                fresh = torch.where(step_, refac, fresh)
                si = step_.nonzero()[:, 0]
                if si.numel() == 0:
                    continue
                stats[idx[si], 3] += 1
                stats[idx[si], 4] += 1
                dxn = self.solve(Lf[si], -F[si])
                dx[si] = dxn
                x_prev[si] = xs[si]
                xs[si] = xs[si] + dxn
                res_prev = torch.where(step_, res, res_prev)
                have_dx |= step_
                loose = step_ & ~strict
                if bool(loose.any()):
                    dv = self.dv_of(dx)
                    eta = torch.where(theta < 1.0, torch.clamp(theta, min=e.theta_floor) / (1.0 - theta), 0.0)
                    lim = e.newton_fraction * (e.atol + e.rtol * g2.abs())
                    small = loose & (theta < 1.0) & (res <= e.kcl_inner_rtol)
                    small &= (eta[:, None] * (sv * dv).abs() <= lim).all(dim=1)
                    if bool(small.any()):
                        w = small[:, None]
                        g2 = torch.where(w, g2 + sv * dv, g2)
                        vj = torch.where(w, vj + dv, vj)
                        G = torch.where(w, self.gmin + self.slope * g2, G)
                        conv |= small
                        act &= ~small
                if not bool(act.any()):
                    break
            ok &= conv
            results.append((xs, g2, vj, sv, sp, G, E1, E2))
        # ---- failed stages: reject with h / 4
        S["fac_ok"][idx] = fac_ok
        S["theta"][idx] = theta
        S["Lf"][idx] = Lf
        fail = ~ok
        if bool(fail.any()):
            fi = idx[fail]
            stats[fi, 1] += 1
            S["newton_failed"][fi] = True
            S["fac_ok"][fi] = False
            S["h"][fi] = h[fail] * 0.25
        if not bool(ok.any()):
            return
        S["newton_failed"][idx[ok]] = False
        x1s = results[0][0]
        s1 = results[0][1]
        x2, s2, vj, sv, sp, G, E1, E2 = results[1]
        psi2 = s + _EXTRAP * (s1 - s)
        psil = psi2.clamp(0.0, 1.0)
        # factor at the stage solution where none is usable
        fac_ok = S["fac_ok"][idx]
        nf = ok & ~fac_ok
        if bool(nf.any()):
            ri = nf.nonzero()[:, 0]
            Ln, good = self.factor(self.newton_p(G[ri], vj[ri], sv[ri]))
            Lf[ri] = torch.where(good[:, None, None], Ln, Lf[ri])
            S["Lf"][idx[ri]] = Lf[ri]
            S["fac_ok"][idx[ri]] = good
            stats[idx[ri[good]], 2] += 1
            bad = ri[~good]
            if bad.numel():
                stats[idx[bad], 1] += 1
                S["h"][idx[bad]] = h[bad] * 0.25
                ok[bad] = False
        ei = ok.nonzero()[:, 0]
        if ei.numel() == 0:
            return
        err = (s2 - psil) - (s1 - s)
        q = vj * self.slope * (sp * err)
        rhs = err.new_zeros((m, n + 1))
        rhs.index_add_(1, self.ua[:nj], -q)
        rhs.index_add_(1, self.ub[:nj], q)
        rhs[:, n] = 0.0
        filt = torch.zeros_like(rhs)
        filt[ei] = self.solve(Lf[ei], rhs[ei])
        stats[idx[ei], 4] += 1
        dv = self.dv_of(filt)
        ek = (sp * err + sv * dv).abs()
        limited = psil != psi2
        ek = ek + torch.where(limited, (psi2 - psil).abs() * sp, 0.0)
        ratio = ek / (e.atol + e.rtol * torch.maximum(s.abs(), s2.abs()))
        tau_left = RELAX_DISCOUNT * (span - (t + h))
        disc = torch.exp(-tau_left[:, None] * (self.kp0 / E1 + self.kd0 * E2))
        ratio = torch.where(last[:, None], ratio, ratio * disc)
        ratio = torch.where(torch.isnan(ratio), math.inf, ratio)
        enorm, kw = ratio.max(dim=1)
        in_b = ((s2 >= 0.0) & (s2 <= 1.0)).all(dim=1)
        cand = ok & (enorm <= 1.0) & in_b
        V2 = self.expand(x2, vd)
        _, r_acc = self.residual(G, V2, vd)
        tol = torch.where(last, e.kcl_rtol, e.kcl_inner_rtol)
        kcl_bad = cand & ~(r_acc <= tol)
        if bool(kcl_bad.any()):
            bi = idx[kcl_bad]
            stats[bi, 1] += 1
            S["fac_ok"][bi] = False
            S["h"][bi] = h[kcl_bad] * 0.5
        acc = cand & ~kcl_bad
        if bool(acc.any()):
            ai = idx[acc]
            stats[ai, 0] += 1
            stats[ai, 5] += limited[acc].sum(dim=1)
            S["x_old"][ai] = x1s[acc]
            S["t_old"][ai] = t[acc] + c[acc]
            S["have_old"][ai] = True
            S["t"][ai] = t[acc] + h[acc]
            S["s"][ai] = s2[acc]
            S["x"][ai] = x2[acc]
            S["g_lo"][ai] = torch.minimum(S["g_lo"][ai], s2[acc].min(dim=1).values)
            S["g_hi"][ai] = torch.maximum(S["g_hi"][ai], s2[acc].max(dim=1).values)
            la = acc & last
            S["kcl_max"][idx[la]] = torch.maximum(S["kcl_max"][idx[la]], r_acc[la])
            li = acc & ~last
            S["kcl_inner"][idx[li]] = torch.maximum(S["kcl_inner"][idx[li]], r_acc[li])
            en = enorm[acc]
            fac = torch.where(
                en == 0.0, _FAC_MAX, torch.clamp(0.9 * en.clamp(min=1e-300) ** -0.5, 0.2, _FAC_MAX)
            )
            hn = h[acc] * fac
            S["h"][ai] = hn
            S["h_next"][ai] = hn
        rej = ok & ~cand
        if bool(rej.any()):
            ri = idx[rej]
            stats[ri, 1] += 1
            S["worst_k"][ri] = kw[rej].double()
            S["worst_r"][ri] = enorm[rej]
            hr, er, tr = h[rej], enorm[rej], t[rej]
            quarter = ~(er < math.inf) | (er <= 1.0)
            same = (S["rej_t"][ri] == tr) & (S["rej_e"][ri] > er)
            pw = torch.full_like(er, 0.5)
            ratio_h = torch.where(same, S["rej_h"][ri] / hr, 2.0)
            pw_obs = torch.log(
                torch.where(same, S["rej_e"][ri], 2.0) / torch.where(same, er, 1.0)
            ) / torch.log(ratio_h)
            pw = torch.where(same, pw_obs.clamp(0.2, 2.0), pw)
            safe_e = torch.where(quarter, 1.0, er)
            expo = torch.where(pw != 0.5, -1.0 / pw, -0.5)  # as the compiled kernel (and StiffIntegrator)
            fac = torch.clamp(0.9 * safe_e**expo, min=1e-4)
            h_new = torch.where(quarter, 0.25 * hr, hr * fac)
            S["rej_t"][ri] = tr
            S["rej_h"][ri] = hr
            S["rej_e"][ri] = er
            S["h"][ri] = h_new
