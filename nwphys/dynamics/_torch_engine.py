"""The batched engine's torch path: all series of a batch advance together, for GPUs.

The same schemes (SDIRK2 and ESDIRK3), error control, simplified Newton and stopping rules as the
compiled kernel (:mod:`nwphys.dynamics._sdirk_kernels`, see its notes), written over tensors whose
first dimension is the series. Each series keeps its own step size, sample, Newton matrix and
error control: a step *attempt* is taken by every running series at once, each with its own
``h``; masks decide per series what is accepted, rejected, refactorised or read. The Newton
matrices are dense ``(B, n, n)`` and factorised by batched Cholesky
(:func:`torch.linalg.cholesky_ex`), which is what a GPU does well for networks of a few hundred
nodes; the compiled kernel's sparse LDL^T is the better choice on a CPU core.

Results equal the compiled kernel's to rounding as long as no step decision falls on the other
side of a threshold; both satisfy the same tolerances (tested against each other in float64,
with equal work counters).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nwphys.dynamics._sdirk_kernels import _EXTRAP, _FAC_MAX, GAMMA, RELAX_DISCOUNT, TABLEAU

_G3 = TABLEAU["gamma"]
_A31, _A32 = TABLEAU["a31"], TABLEAU["a32"]
_B1, _B2, _B3 = TABLEAU["b1"], TABLEAU["b2"], TABLEAU["b3"]

# columns of the counters (as the compiled kernel's ``stats``)
_STEPS, _REJECTED, _FACTOR, _NEWTON, _SOLVES, _LIMITED, _SAMPLES = range(7)


class _Stage:
    """A solved stage of the series of one attempt: voltages ``x``, state ``g`` and what belongs to
    them (junction voltages ``vj``, ``dg/dv`` ``sv``, ``dg/dpsi`` ``sp``, conductances ``G`` and the
    rate exponentials ``E1``, ``E2``)."""

    __slots__ = ("E1", "E2", "G", "g", "sp", "sv", "vj", "x")

    def __init__(self, x: Any, g: Any, vj: Any, sv: Any, sp: Any, G: Any, E1: Any, E2: Any) -> None:
        self.x, self.g, self.vj, self.sv, self.sp, self.G, self.E1, self.E2 = x, g, vj, sv, sp, G, E1, E2


class TorchRun:
    """One :meth:`~nwphys.dynamics.BatchedEngine.run` on torch tensors (internal; see the module notes)."""

    def __init__(self, engine: Any, device: str, order: int) -> None:
        import torch

        self.torch = torch
        self.e = engine
        self.order = int(order)
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

    def junction_exps(self, V: Any) -> tuple[Any, Any, Any]:
        """Junction voltages ``v`` of the node voltages ``V`` and ``E1 = exp(-eta_p |v|)``,
        ``E2 = exp(-eta_d |v|)`` (the rates are ``kp = kp0 / E1`` and ``kd = kd0 E2``)."""
        nj = self.nj
        v = V[:, self.ba[:nj]] - V[:, self.bb[:nj]]
        a = v.abs()
        return v, self.torch.exp(-self.ep * a), self.torch.exp(-self.ed * a)

    def stage_eval(self, psi: Any, c: Any, V: Any) -> tuple[Any, ...]:
        torch = self.torch
        v, E1, E2 = self.junction_exps(V)
        q = E1 / c[:, None] * self.ikp0
        r = E1 * E2 * self.rkk
        inv = 1.0 / (q + r + 1.0)
        g = (psi * q + 1.0) * inv
        d = ((1.0 - g) * self.ep + (r * g) * self.ed) * inv * torch.sign(v)
        G = self.gmin + self.slope * g
        return v, g, d, q * inv, G, E1, E2

    def rates(self, s: Any, V: Any) -> Any:
        """``f = kp(v) (1 - g) - kd(v) g`` at the junction voltages of ``V`` and the states ``s``."""
        _, E1, E2 = self.junction_exps(V)
        return (self.kp0 / E1) * (1.0 - s) - (self.kd0 * E2) * s

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

    @staticmethod
    def rows(T: Any, rows: Any) -> Any:
        """``T[rows]`` for sorted distinct ``rows`` (as ``nonzero()`` gives them): ``T`` itself,
        not a copy, where they are every row (so that the dense factors of a whole batch are not
        copied at every solve)."""
        return T if rows.numel() == T.shape[0] else T[rows]

    def refactor(self, ctx: dict[str, Any], idx: Any, rows: Any, G: Any, vj: Any, sv: Any) -> Any:
        """Factorise the Newton matrices of the attempt's series ``rows`` (of ``idx``) at the stage
        quantities ``G``, ``vj``, ``sv``; keeps each good factor in ``ctx["Lf"]`` (in place, without
        a temporary of every row's matrix), sets ``ctx["fac_ok"]`` and counts it. Returns which
        were good."""
        Ln, good = self.factor(self.newton_p(G[rows], vj[rows], sv[rows]))
        Lf = ctx["Lf"]
        if bool(good.all()):
            Lf[rows] = Ln
        elif bool(good.any()):
            Lf[rows[good]] = Ln[good]
        ctx["fac_ok"][rows] = good
        ctx["stats"][idx[rows[good]], _FACTOR] += 1
        return good

    def solve(self, Lf: Any, rhs: Any) -> Any:
        """``A^-1 rhs`` for rhs (B, n + 1) with the spare slot kept at zero."""
        out = rhs.clone()
        out[:, : self.n] = self.torch.cholesky_solve(rhs[:, : self.n, None], Lf)[..., 0]
        out[:, self.n] = 0.0
        return out

    def scatter(self, q: Any, sign: float) -> Any:
        """The nodal vector of junction currents ``q`` (B, nj), ``sign q`` into end a and ``-sign q``
        into end b, with the spare slot at zero."""
        nj = self.nj
        F = q.new_zeros((q.shape[0], self.n + 1))
        F.index_add_(1, self.ua[:nj], sign * q)
        F.index_add_(1, self.ub[:nj], -sign * q)
        F[:, self.n] = 0.0
        return F

    def dv_of(self, dx: Any) -> Any:
        nj = self.nj
        return dx[:, self.ua[:nj]] - dx[:, self.ub[:nj]]

    def newton_p(self, G: Any, vj: Any, sv: Any) -> Any:
        return self.branch_p(G + self.slope * vj * sv)

    def plain_rhs(self, s: Any, vd: Any) -> tuple[Any, Any]:
        """The conductances of the states ``s`` and the Kirchhoff imbalance of the sources ``vd``
        with every unknown at 0 V (the plain nodal solve's right-hand side, negated): ``(G, F)``."""
        G0 = self.gmin + self.slope * s
        F0, _ = self.residual(G0, self.expand(s.new_zeros((s.shape[0], self.n + 1)), vd), vd)
        return G0, F0

    def plain_solve(self, s: Any, vd: Any) -> tuple[Any, Any, Any, Any]:
        """Voltages consistent with the states ``s`` and sources ``vd``: one plain nodal
        factorisation and solve from 0 V. Returns ``(x, factor, pivots good, conductances)``."""
        G0, F0 = self.plain_rhs(s, vd)
        Lc, good = self.factor(self.branch_p(G0))
        return self.solve(Lc, -F0), Lc, good, G0

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
        esdirk = self.order == 3
        B, n, nj = len(drives), self.n, self.nj
        T = max(d.shape[0] for d in drives)
        nd = drives[0].shape[1]
        f64 = dict(dtype=torch.float64, device=self.dev)
        boolean = dict(dtype=torch.bool, device=self.dev)
        VD = torch.zeros((B, T, nd), **f64)
        DT = torch.ones((B, T), **f64)
        REC = torch.zeros((B, T), **boolean)
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
        ks = torch.zeros(B, dtype=torch.long, device=self.dev)
        start = torch.ones(B, **boolean)
        have_vd = torch.zeros(B, **boolean)
        vd_last = torch.zeros((B, nd), **f64)
        # the state of every series between attempts (see _attempt)
        S: dict[str, Any] = dict(
            s=s,
            x=torch.zeros((B, n + 1), **f64),
            Lf=torch.zeros((B, n, n), **f64),
            fac_ok=torch.zeros(B, **boolean),
            plain_ok=torch.zeros(B, **boolean),  # the factor at hand is the plain nodal matrix of s
            theta=torch.ones(B, **f64),
            h=torch.zeros(B, **f64),
            h_next=torch.full((B,), -1.0, **f64),
            # ESDIRK3: the step that the first accepted step after the last source change asked for
            h_change=torch.full((B,), -1.0, **f64),
            after_change=torch.zeros(B, **boolean),
            t=torch.zeros(B, **f64),
            t_abs=torch.zeros(B, **f64),
            have_old=torch.zeros(B, **boolean),
            x_old=torch.zeros((B, n + 1), **f64),
            t_old=torch.zeros(B, **f64),
            f1=torch.zeros((B, nj), **f64),  # ESDIRK3: the rates of the explicit first stage
            rej_t=torch.full((B,), -1.0, **f64),
            rej_h=torch.zeros(B, **f64),
            rej_e=torch.zeros(B, **f64),
            worst_k=torch.full((B,), -1.0, **f64),
            worst_r=torch.zeros(B, **f64),
            newton_failed=torch.zeros(B, **boolean),
            stats=torch.zeros((B, 7), dtype=torch.long, device=self.dev),
            info=torch.zeros((B, 9), **f64),
            status=torch.zeros(B, dtype=torch.long, device=self.dev),  # 0 running, 1 done, 2 failed
            g_lo=torch.ones(B, **f64),
            g_hi=torch.zeros(B, **f64),
            kcl_max=torch.zeros(B, **f64),
            kcl_inner=torch.zeros(B, **f64),
        )
        x, Lf, stats, info, status, t, h = S["x"], S["Lf"], S["stats"], S["info"], S["status"], S["t"], S["h"]
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
                    # solved from 0 V: rounding relative to the new voltages
                    G0, F0 = self.plain_rhs(s[idx], vd[idx])
                    # the factor at hand is this state's plain nodal matrix after an ESDIRK3 read
                    new = idx[~S["plain_ok"][idx]]
                    S["fac_ok"][idx] = True
                    if new.numel():
                        Lc, ok = self.factor(self.branch_p(G0[~S["plain_ok"][idx]]))
                        bad = new[~ok]
                        status[bad] = 2
                        info[bad, 0] = S["t_abs"][bad]
                        Lf[new] = Lc
                        S["fac_ok"][new] = ok
                        stats[new[ok], _FACTOR] += 1
                    x[idx] = self.solve(self.rows(Lf, idx), -F0)
                    stats[idx, _SOLVES] += 1
                    if esdirk:
                        S["f1"][idx] = self.rates(s[idx], self.expand(x[idx], vd[idx]))
                hn = torch.where(S["h_next"] > 0, S["h_next"], span)
                if esdirk:
                    # the transient after a change resembles the last one: start at the step it asked for
                    hn = torch.where(changed & (S["h_change"] > 0), torch.minimum(hn, S["h_change"]), hn)
                h[:] = torch.where(st, torch.minimum(hn, span), h)
                t[:] = torch.where(st, 0.0, t)
                S["plain_ok"] &= ~st
                S["after_change"] = torch.where(st, changed, S["after_change"])
                S["have_old"] &= ~st
                S["rej_t"] = torch.where(st, -1.0, S["rej_t"])
                S["worst_k"] = torch.where(st, -1.0, S["worst_k"])
                S["worst_r"] = torch.where(st, 0.0, S["worst_r"])
                S["newton_failed"] &= ~st
                start = start & ~st
                run_ = status == 0
            rem = span - t
            h[:] = torch.where(run_ & ((h >= rem) | (rem - h < 0.05 * h)), rem, h)
            under = run_ & ((h < e.h_min_s) | (t + h == t))
            if bool(under.any()):
                status[under] = 2
                info[under, 0] = S["t_abs"][under] + t[under]
                info[under, 1] = h[under]
                info[under, 2] = S["worst_k"][under]
                info[under, 3] = S["worst_r"][under]
                info[under, 4] = S["newton_failed"][under].double()
                run_ = status == 0
            idx = run_.nonzero()[:, 0]
            if idx.numel() == 0:
                continue
            self._attempt(idx, S, span, vd)  # updates the tensors of S in place
            # ---- samples completed: read, move on
            fin = run_ & (span - t <= 1e-12 * span) & (status == 0)
            if bool(fin.any()):
                fi = fin.nonzero()[:, 0]
                kf = ks[fi]
                S["t_abs"][fi] += span[fi]
                g_out[fi] = s[fi]
                stats[fi, _SAMPLES] += 1
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
        info[:, 5], info[:, 6], info[:, 7], info[:, 8] = S["g_lo"], S["g_hi"], S["kcl_max"], S["kcl_inner"]
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

    # ------------------------------------------------------------------ one step attempt
    def _solve_stage(self, idx: Any, ctx: dict[str, Any], psi: Any, xs: Any, strict: Any) -> _Stage:
        """Simplified Newton on the stage ``g = psi + c f(g, V)`` (``c = ctx["c"]``) of the series
        ``idx`` whose ``ctx["ok"]`` is set, from the voltages ``xs``: iterated to ``kcl_rtol`` where
        ``strict``, otherwise until the state criterion holds. Updates ``ok``, ``fac_ok``, ``Lf`` and
        ``theta`` of ``ctx`` (see :meth:`_attempt`); returns the stage."""
        torch = self.torch
        e = self.e
        c, vd, ok, fac_ok, theta, Lf, stats = (
            ctx["c"], ctx["vd"], ctx["ok"], ctx["fac_ok"], ctx["theta"], ctx["Lf"], ctx["stats"]
        )
        m, n = idx.numel(), self.n
        xs = xs.clone()
        res_prev = torch.full((m,), math.inf, dtype=torch.float64, device=self.dev)
        have_dx = torch.zeros(m, dtype=torch.bool, device=self.dev)
        fresh = torch.zeros(m, dtype=torch.bool, device=self.dev)
        halv = torch.zeros(m, dtype=torch.long, device=self.dev)
        conv = torch.zeros(m, dtype=torch.bool, device=self.dev)
        act = ok.clone()
        dx = torch.zeros((m, n + 1), dtype=torch.float64, device=self.dev)
        x_prev = xs.clone()
        vj = g = sv = sp = G = E1 = E2 = res = None
        for it in range(e.max_newton + 1):
            V = self.expand(xs, vd)
            vj_n, g_n, sv_n, sp_n, G_n, E1_n, E2_n = self.stage_eval(psi, c, V)
            F, res_n = self.residual(G_n, V, vd)
            if vj is None:
                vj, g, sv, sp, G, E1, E2, res = vj_n, g_n, sv_n, sp_n, G_n, E1_n, E2_n, res_n
            else:
                w = act[:, None]
                vj, g, sv, sp = (
                    torch.where(w, a, b_) for a, b_ in ((vj_n, vj), (g_n, g), (sv_n, sv), (sp_n, sp))
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
                good = self.refactor(ctx, idx, ri, G, vj, sv)
                badf = ri[~good]
                ok[badf] = False
                act[badf] = False
                step_ &= ok
            fresh = torch.where(step_, refac, fresh)
            si = step_.nonzero()[:, 0]
            if si.numel() == 0:
                continue
            stats[idx[si], _NEWTON] += 1
            stats[idx[si], _SOLVES] += 1
            dxn = self.solve(self.rows(Lf, si), -F[si])
            dx[si] = dxn
            x_prev[si] = xs[si]
            xs[si] = xs[si] + dxn
            res_prev = torch.where(step_, res, res_prev)
            have_dx |= step_
            loose = step_ & ~strict
            if bool(loose.any()):
                dv = self.dv_of(dx)
                eta = torch.where(theta < 1.0, torch.clamp(theta, min=e.theta_floor) / (1.0 - theta), 0.0)
                lim = e.newton_fraction * (e.atol + e.rtol * g.abs())
                small = loose & (theta < 1.0) & (res <= e.kcl_inner_rtol)
                small &= (eta[:, None] * (sv * dv).abs() <= lim).all(dim=1)
                if bool(small.any()):
                    # the state and voltages take the last correction to first order
                    w = small[:, None]
                    g = torch.where(w, g + sv * dv, g)
                    vj = torch.where(w, vj + dv, vj)
                    G = torch.where(w, self.gmin + self.slope * g, G)
                    conv |= small
                    act &= ~small
            if not bool(act.any()):
                break
        ok &= conv
        ctx["theta"] = theta
        return _Stage(xs, g, vj, sv, sp, G, E1, E2)

    def _sdirk2_stages(self, idx: Any, S: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
        """Stages 1 and 2 of an SDIRK2 step attempt (see :meth:`_attempt`)."""
        torch = self.torch
        s, x, h, t, last = ctx["s"], ctx["x"], ctx["h"], ctx["t"], ctx["last"]
        c = ctx["c"] = GAMMA * h
        have_old = S["have_old"][idx]
        fpred = torch.where(have_old, c / torch.where(have_old, t - S["t_old"][idx], 1.0), 0.0)
        x1 = x + (x - S["x_old"][idx]) * fpred[:, None]
        st1 = self._solve_stage(idx, ctx, s, x1, torch.zeros_like(last))
        psi2 = s + _EXTRAP * (st1.g - s)
        psil = psi2.clamp(0.0, 1.0)
        x2 = x + (st1.x - x) / GAMMA
        # the voltages of the last step of a sample are read: its second stage converges to kcl_rtol
        st2 = self._solve_stage(idx, ctx, psil, x2, last)
        return dict(
            new=st2, err=(st2.g - psil) - (st1.g - s), clip=(psi2 - psil).abs(),
            n_lim=(psil != psi2).sum(dim=1), anchor=st1.x, anchor_dt=c, fsal=None,
        )

    def _esdirk3_stages(self, idx: Any, S: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
        """Stages 2, 3 (the embedded solution) and 4 (the solution) of an ESDIRK3 step attempt (see
        :meth:`_attempt`)."""
        torch = self.torch
        s, x, h, t, vd = ctx["s"], ctx["x"], ctx["h"], ctx["t"], ctx["vd"]
        fac_ok, Lf, stats = ctx["fac_ok"], ctx["Lf"], ctx["stats"]
        f1 = S["f1"][idx]
        c = ctx["c"] = _G3 * h
        cc = c[:, None]
        never = torch.zeros_like(fac_ok)
        # stage 2 at t + 2 gamma h
        psi = s + cc * f1
        psil = psi.clamp(0.0, 1.0)
        clip = (psi - psil).abs()
        n_lim = (psil != psi).sum(dim=1)
        have_old = S["have_old"][idx]
        # voltages: linear through the last step's stage 2 and end, or (a sample's first step) along
        # the tangent at t, dV/dt = -A^-1 (dF/dg) f1, with the factor at hand, or x itself
        fpred = torch.where(have_old, 2.0 * c / torch.where(have_old, t - S["t_old"][idx], 1.0), 0.0)
        x2 = x + (x - S["x_old"][idx]) * fpred[:, None]
        tg = (~have_old & fac_ok).nonzero()[:, 0]
        if tg.numel():
            V = self.expand(x[tg], vd[tg])
            nj = self.nj
            q = self.slope * f1[tg] * (V[:, self.ba[:nj]] - V[:, self.bb[:nj]])
            dxdt = self.solve(self.rows(Lf, tg), self.scatter(q, 1.0))
            stats[idx[tg], _SOLVES] += 1
            x2[tg] = x[tg] - 2.0 * cc[tg] * dxdt
        st2 = self._solve_stage(idx, ctx, psil, x2, never)
        # stage 3 at t + h: the embedded second-order solution
        f2 = (st2.g - psil) / cc
        psi = s + h[:, None] * (_A31 * f1 + _A32 * f2)
        psil = psi.clamp(0.0, 1.0)
        clip = clip + (psi - psil).abs()
        n_lim = n_lim + (psil != psi).sum(dim=1)
        x3 = x + (st2.x - x) / (2.0 * _G3)
        st3 = self._solve_stage(idx, ctx, psil, x3, never)
        # stage 4 at t + h: the third-order solution
        f3 = (st3.g - psil) / cc
        psi = s + h[:, None] * (_B1 * f1 + _B2 * f2 + _B3 * f3)
        psil = psi.clamp(0.0, 1.0)
        clip = clip + (psi - psil).abs()
        n_lim = n_lim + (psil != psi).sum(dim=1)
        st4 = self._solve_stage(idx, ctx, psil, st3.x, never)
        return dict(
            new=st4, err=st4.g - st3.g, clip=clip, n_lim=n_lim, anchor=st2.x, anchor_dt=2.0 * c,
            fsal=(st4.g - psil) / cc,
        )

    def _attempt(self, idx: Any, S: dict[str, Any], span_all: Any, vd_all: Any) -> None:
        """One step attempt of the running series ``idx``: the stages of the scheme, the filtered
        error, the Kirchhoff checks, the read (ESDIRK3) and the next step (updates the tensors of
        ``S`` in place)."""
        torch = self.torch
        e = self.e
        esdirk = self.order == 3
        stats = S["stats"]
        h, t, span, vd = S["h"][idx], S["t"][idx], span_all[idx], vd_all[idx]
        last = ~(span - (t + h) > 0.0)
        ctx = dict(
            s=S["s"][idx], x=S["x"][idx], h=h, t=t, vd=vd, last=last, Lf=self.rows(S["Lf"], idx),
            fac_ok=S["fac_ok"][idx].clone(), theta=S["theta"][idx].clone(),
            ok=torch.ones(idx.numel(), dtype=torch.bool, device=self.dev), stats=stats,
        )
        out = self._esdirk3_stages(idx, S, ctx) if esdirk else self._sdirk2_stages(idx, S, ctx)
        s, ok, Lf, fac_ok, new = ctx["s"], ctx["ok"], ctx["Lf"], ctx["fac_ok"], out["new"]
        S["theta"][idx] = ctx["theta"]
        # ---- failed stages: reject with h / 4
        fail = ~ok
        if bool(fail.any()):
            fi = idx[fail]
            stats[fi, _REJECTED] += 1
            S["newton_failed"][fi] = True
            fac_ok[fail] = False
            S["h"][fi] = h[fail] * 0.25
        S["newton_failed"][idx[ok]] = False
        # ---- a factor at the solution where none is usable
        nf = ok & ~fac_ok
        if bool(nf.any()):
            ri = nf.nonzero()[:, 0]
            good = self.refactor(ctx, idx, ri, new.G, new.vj, new.sv)
            bad = ri[~good]
            if bad.numel():
                stats[idx[bad], _REJECTED] += 1
                S["h"][idx[bad]] = h[bad] * 0.25
                ok[bad] = False
        S["fac_ok"][idx] = fac_ok
        if Lf is not S["Lf"]:  # (a gathered subset; the whole batch's factors were updated in place)
            S["Lf"][idx] = Lf
        ei = ok.nonzero()[:, 0]
        if ei.numel() == 0:
            return
        # ---- the error estimate, filtered by (I - c J)^-1 with the factor at hand
        err, sp, sv, s_new = out["err"], new.sp, new.sv, new.g
        filt = torch.zeros((idx.numel(), self.n + 1), dtype=torch.float64, device=self.dev)
        injected = self.scatter(new.vj[ei] * self.slope * (sp[ei] * err[ei]), -1.0)
        filt[ei] = self.solve(self.rows(Lf, ei), injected)
        stats[idx[ei], _SOLVES] += 1
        dv = self.dv_of(filt)
        ek = (sp * err + sv * dv).abs() + out["clip"] * sp
        ratio = ek / (e.atol + e.rtol * torch.maximum(s.abs(), s_new.abs()))
        tau_left = RELAX_DISCOUNT * (span - (t + h))
        disc = torch.exp(-tau_left[:, None] * (self.kp0 / new.E1 + self.kd0 * new.E2))
        ratio = torch.where(last[:, None], ratio, ratio * disc)
        ratio = torch.where(torch.isnan(ratio), math.inf, ratio)
        enorm, kw = ratio.max(dim=1)
        in_b = ((s_new >= 0.0) & (s_new <= 1.0)).all(dim=1)
        cand = ok & (enorm <= 1.0) & in_b
        # ---- the Kirchhoff residual of the state and voltages about to be accepted
        x_new = new.x
        _, r_acc = self.residual(new.G, self.expand(x_new, vd), vd)
        # (ESDIRK3 checks the read voltages below, after their own solve)
        tol = torch.where(last & (not esdirk), e.kcl_rtol, e.kcl_inner_rtol)
        retry = cand & ~(r_acc <= tol)
        if esdirk:
            # the voltages that are read: one plain nodal solve at the accepted state, whose factor
            # also gives the next sample's consistent voltages
            rd = (cand & ~retry & last).nonzero()[:, 0]
            if rd.numel():
                xr, Lc, good, G0 = self.plain_solve(s_new[rd], vd[rd])
                bad = idx[rd[~good]]
                S["status"][bad] = 2
                S["info"][bad, 0] = S["t_abs"][bad] + t[rd[~good]]
                cand[rd[~good]] = False
                gi = rd[good]
                stats[idx[gi], _FACTOR] += 1
                stats[idx[gi], _SOLVES] += 1
                S["Lf"][idx[gi]] = Lc[good]
                x_new = x_new.clone()
                x_new[gi] = xr[good]
                _, r_read = self.residual(G0[good], self.expand(xr[good], vd[gi]), vd[gi])
                r_acc[gi] = r_read
                retry[gi] = ~(r_read <= e.kcl_rtol)
                S["plain_ok"][idx[gi]] = ~retry[gi]
        if bool(retry.any()):
            bi = idx[retry]
            stats[bi, _REJECTED] += 1
            S["fac_ok"][bi] = False
            S["h"][bi] = h[retry] * 0.5
        acc = cand & ~retry
        if bool(acc.any()):
            ai = idx[acc]
            stats[ai, _STEPS] += 1
            stats[ai, _LIMITED] += out["n_lim"][acc]
            S["x_old"][ai] = out["anchor"][acc]
            S["t_old"][ai] = t[acc] + out["anchor_dt"][acc]
            S["have_old"][ai] = True
            S["t"][ai] = t[acc] + h[acc]
            S["s"][ai] = s_new[acc]
            S["x"][ai] = x_new[acc]
            if esdirk:
                S["f1"][ai] = out["fsal"][acc]  # first same as last
            S["g_lo"][ai] = torch.minimum(S["g_lo"][ai], s_new[acc].min(dim=1).values)
            S["g_hi"][ai] = torch.maximum(S["g_hi"][ai], s_new[acc].max(dim=1).values)
            la = idx[acc & last]
            S["kcl_max"][la] = torch.maximum(S["kcl_max"][la], r_acc[acc & last])
            li = idx[acc & ~last]
            S["kcl_inner"][li] = torch.maximum(S["kcl_inner"][li], r_acc[acc & ~last])
            en = enorm[acc]
            fac = torch.where(
                en == 0.0, _FAC_MAX,
                torch.clamp(0.9 * en.clamp(min=1e-300) ** (-1.0 / self.order), 0.2, _FAC_MAX),
            )
            hn = h[acc] * fac
            S["h"][ai] = hn
            S["h_next"][ai] = hn
            first = ai[S["after_change"][ai]]
            S["h_change"][first] = S["h"][first]
            S["after_change"][ai] = False
        rej = ok & ~cand & (S["status"][idx] == 0)
        if bool(rej.any()):
            ri = idx[rej]
            stats[ri, _REJECTED] += 1
            S["worst_k"][ri] = kw[rej].double()
            S["worst_r"][ri] = enorm[rej]
            hr, er, tr = h[rej], enorm[rej], t[rej]
            # the error taken as O(h^2), or with the order that the last two rejections at the same
            # time showed, limited to [lo, order] (as the compiled kernel)
            quarter = ~(er < math.inf) | (er <= 1.0)
            same = (S["rej_t"][ri] == tr) & (S["rej_e"][ri] > er)
            pw_obs = torch.log(
                torch.where(same, S["rej_e"][ri], 2.0) / torch.where(same, er, 1.0)
            ) / torch.log(torch.where(same, S["rej_h"][ri] / hr, 2.0))
            pw = torch.where(same, pw_obs.clamp(0.5 if self.order == 3 else 0.2, float(self.order)), 2.0)
            safe_e = torch.where(quarter, 1.0, er)
            fac = torch.clamp(0.9 * safe_e ** (-1.0 / pw), min=1e-4)
            S["h"][ri] = torch.where(quarter, 0.25 * hr, hr * fac)
            S["rej_t"][ri] = tr
            S["rej_h"][ri] = hr
            S["rej_e"][ri] = er
