"""Error-controlled stiff integration of a junction network (the ``"sdirk2"`` method).

The system
----------
Each junction state ``s_k`` obeys ``ds_k/dt = f(s_k, v_k)``, where the junction voltages ``v`` come
from Kirchhoff's current law on the whole network, ``A(G(s)) x = b(G(s), V_src(t))`` (``x``: the
unknown node voltages, :class:`~nwphys.circuit.nodal.NodalSolver`). Every junction is coupled to every
other through ``x``, and the local rates span many orders of magnitude: with the NW-ESN constants
the switching time ``1 / (kp + kd)`` is 0.42 s at 1 V and 1e-13 s at 4 V. The method must
therefore be implicit in the junction states *and* in the voltages.

Scheme
------
Alexander's two-stage SDIRK method (order 2, L-stable, stiffly accurate;
``gamma = 1 - 1/sqrt(2)``). A step of size ``h`` from ``(t, s)`` solves two implicit stages

    s_i - c f(s_i, v_i) = psi_i,   KCL(s_i, x_i) = 0,   c = gamma h,
    psi_1 = s,  psi_2 = s + ((1 - gamma) / gamma) (s_1 - s),

at the times ``t + gamma h`` and ``t + h``; ``s_2`` is the new state. Each stage is one nonlinear
system in the node voltages alone: at fixed ``v`` the junction part is solved junction by
junction (:meth:`~nwphys.junctions.JunctionModel.stage_solve`, in closed form for the built-in
models), which gives ``s(x)``, ``ds/dv`` and ``ds/dpsi``. Newton's method on
``F(x) = A(G(s(x))) x - b(G(s(x)))`` then has the exact Jacobian

    dF/dx = A(G + w),   w_k = v_k G'(s_k) ds_k/dv_k,

a Laplacian on the same sparsity pattern with modified branch conductances: one numeric
factorisation per Newton iteration, reusing the circuit's symbolic analysis. This is the
Woodbury reduction of ``(I - c J) delta = r`` with ``J = f_s - f_v B^T A^-1 B diag(v G')``. For the
rate-balance model ``v f_v >= 0`` and ``G' > 0``, so ``w >= 0`` and the matrix stays symmetric
positive definite. Newton stops when the relative Kirchhoff residual (the 2-norm of the current
imbalance over the 2-norm of the per-node sums of absolute branch currents) is at most
``kcl_rtol`` (1e-10); every accepted state therefore comes with voltages that satisfy Kirchhoff's
law to that level.

Error control
-------------
The embedded first-order solution ``s + h f(s_1)`` gives the raw estimate
``e = h gamma (f(s_2) - f(s_1))``. It is filtered by ``(I - c J)^-1`` (one more solve with the last
factorisation), as in Hairer and Wanner's Radau5, so that stiff junctions sitting at their
voltage-dependent equilibrium do not limit the step. A step is accepted when
``max_k w_k |e_k| / (atol + rtol |s_k|) <= 1`` (a max norm: the error of every single junction
is controlled) and the next step is ``h * min(10, max(0.2, 0.9 err^-1/2))``.

The weight ``w_k = exp(-RELAX_DISCOUNT * lambda_k * (t_end - t))`` discounts the error of a
junction whose own relaxation rate ``lambda_k`` (``1 / switching time``, from
:meth:`~nwphys.junctions.JunctionModel.rate_constant_per_s`) lets it forget that error long
before the end ``t_end`` of the interval (a held sample, or a record interval), with
``RELAX_DISCOUNT = 0.5`` as a safety factor on that rate. The last step of every interval, where
the readings are taken, is controlled with ``w = 1``. After a change of the sources the network
goes through a cascade of junctions switching on every time scale from picoseconds to the
sample period; the discount lets the steps pass over the transients of junctions that settle
long before the reading, while slow junctions (and through the filtered estimate, the voltage
transients they feel) stay fully controlled. Measured on the default reservoir device at 8 V:
4.3 ms per sample with the discount and 5.5 ms without, with the same max error in g (8.9e-4
against a reference at rtol 1e-7).

After a rejection the step shrinks by ``0.9 err^(-1/p)``, with ``p = 1/2`` or, after two
rejections at the same time, the exponent observed between them (a source change puts the
estimate far from its asymptotic regime).

State bounds
------------
No method of order two keeps ``0 <= g <= 1`` for every step size. The first stage is
backward-Euler-like and stays in bounds (for the rate-balance model it is a convex combination
of ``psi`` and the equilibrium ``g_inf(v)``). The second stage's ``psi_2`` extrapolates; where it
leaves the model's ``state_bounds`` it is limited to the bound, and the change this makes to
``s_2`` (``|psi_2 - psi_lim| ds/dpsi``) is added to the error estimate of that junction. In the
stiff limit that change is ``O(1 / (c (kp + kd)))`` and negligible; elsewhere it forces a smaller
step. Accepted states are always inside the bounds; the number of limited junction stages is
reported (``n_limited``).

Counters
--------
:class:`StiffStats` counts accepted and rejected steps, Newton iterations (one factorisation
each) and linear solves (Newton, error filter and read-outs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nwphys.circuit._kirchhoff import KirchhoffResidual
from nwphys.circuit.nodal import NodalSolver
from nwphys.errors import IntegrationError, SolverError
from nwphys.junctions import JunctionModel

__all__ = ["DEFAULT_ATOL", "DEFAULT_RTOL", "GAMMA", "StiffIntegrator", "StiffStats"]

#: Default tolerances of ``"sdirk2"``: they hold the max abs error in g to <= 1e-3 on the
#: validated operating points (see ``tests/nwphys/test_stiff.py``).
DEFAULT_RTOL: float = 3e-3
DEFAULT_ATOL: float = 3e-4

#: Diagonal coefficient of the SDIRK2 method (``1 - 1/sqrt(2)``).
GAMMA: float = 1.0 - 1.0 / np.sqrt(2.0)
_EXTRAP = (1.0 - GAMMA) / GAMMA
_FAC_MAX = 10.0  # largest step growth per accepted step
#: Discount of the error of a junction that relaxes before the end of the interval (see the notes).
RELAX_DISCOUNT: float = 0.5


@dataclass
class StiffStats:
    """Work counters of :class:`StiffIntegrator` (cumulative).

    Attributes
    ----------
    n_steps : int
        Accepted steps.
    n_rejected : int
        Rejected steps (error too large, Newton failure or a non-positive conductance).
    n_newton : int
        Newton iterations, each one factorisation of the modified Laplacian.
    n_solves : int
        Linear solves of any kind (Newton, error filter, read-outs).
    n_limited : int
        Junction stages whose ``psi_2`` was limited to the state bounds (see the module notes).
    """

    n_steps: int = 0
    n_rejected: int = 0
    n_newton: int = 0
    n_solves: int = 0
    n_limited: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return {
            k: int(getattr(self, k)) for k in ("n_steps", "n_rejected", "n_newton", "n_solves", "n_limited")
        }


class _NewtonFailure(Exception):
    pass


#: Callable of one accepted step: ``monitor(t_s, state, node_voltage_V, driven_V)``.
Monitor = Callable[[float, np.ndarray, np.ndarray, np.ndarray], None]


class StiffIntegrator:
    """SDIRK2 integrator with exact Newton on one network (see the module docstring).

    Parameters
    ----------
    solver : NodalSolver
        Nodal solver of the circuit and its driven electrodes.
    model : JunctionModel
        Junction model.
    rtol, atol : float
        Relative and absolute tolerance of the local error of every junction state (``atol`` in
        units of the model's ``state_scale``: 1 for the rate-balance ``g``, ``lmax`` for the
        filament gap).
    kcl_rtol : float
        Relative Kirchhoff residual at which Newton stops (default 1e-10).
    max_newton : int
        Newton iterations per stage before the step is retried with ``h / 4``.
    h_min_s : float
        Smallest step in seconds; a step below it raises :class:`~nwphys.errors.IntegrationError`.
    monitor : callable, optional
        Called after every accepted step with ``(t_s, state, node_voltage_V, driven_V)``.
    """

    def __init__(
        self,
        solver: NodalSolver,
        model: JunctionModel,
        *,
        rtol: float,
        atol: float,
        kcl_rtol: float = 1e-10,
        max_newton: int = 10,
        h_min_s: float = 1e-18,
        monitor: Monitor | None = None,
    ) -> None:
        self.solver = solver
        self.model = model
        self.rtol = float(rtol)
        self.atol = float(atol)
        self.kcl_rtol = float(kcl_rtol)
        self.max_newton = int(max_newton)
        self.h_min_s = float(h_min_s)
        self.monitor = monitor
        c = solver.circuit
        self._nj = c.n_junctions
        self._kcl = KirchhoffResidual(solver)
        self._a, self._b = self._kcl.a, self._kcl.b
        self._aj = c.edges[:, 0]
        self._bj = c.edges[:, 1]
        self._lo, self._hi = model.state_bounds
        self._atol = self.atol * float(model.state_scale)  # atol is in units of the state scale
        self.stats = StiffStats()
        self.h_next_s: float | None = None
        self._vd_last: np.ndarray | None = None
        self._newton_mark = -1

    def reset(self) -> None:
        """Forget the step-size history, so that the next :meth:`integrate` is reproducible."""
        self.h_next_s = None
        self._vd_last = None

    # ------------------------------------------------------------------ one stage
    def _stage(
        self, psi: np.ndarray, c: float, vd: np.ndarray, x: np.ndarray, *, loose: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Solve one implicit stage by Newton on the node voltages.

        With ``loose`` (the first stage, whose voltages are not reported) Newton also stops once
        the last correction changes no state by more than 1e-3 of its error tolerance.
        Returns ``x, s, ds_dv, ds_dpsi, V`` (unknowns, state, its partials, all node voltages).
        """
        solver, model, nj = self.solver, self.model, self._nj
        x_prev = None
        res_prev = np.inf
        dx = None
        halvings = 0
        for it in range(self.max_newton + 1):
            V = solver.expand(x, vd)
            vb = V[self._a] - V[self._b]
            v = vb[:nj]
            s, s_v, s_psi = model.stage_solve(psi, v, c)
            G = model.conductance_S(s)
            if not G.min() > 0:  # a user model may leave its admissible range
                raise _NewtonFailure
            p = solver.branch_conductances(G)
            F, res = self._kcl.residual(p, vb, V, vd)
            if res <= self.kcl_rtol:
                return x, s, s_v, s_psi, V
            if not np.isfinite(res):
                raise _NewtonFailure
            if res > res_prev and dx is not None and halvings < 4:
                # damped Newton: halve the last correction, without a new factorisation
                halvings += 1
                dx = 0.5 * dx
                x = x_prev + dx
                continue
            if it == self.max_newton:
                break
            halvings = 0
            try:
                self._factor_newton(s, v, s_v, G)
            except SolverError:
                raise _NewtonFailure from None
            self.stats.n_newton += 1
            dx = solver.solve_factored(-F)
            x_prev, res_prev = x, res
            x = x + dx
            if loose:
                ds = np.abs(s_v * (self._kcl.BjT @ dx))
                if np.all(ds <= 1e-3 * (self._atol + self.rtol * np.abs(s))):
                    V = solver.expand(x, vd)
                    s, s_v, s_psi = model.stage_solve(psi, V[self._aj] - V[self._bj], c)
                    return x, s, s_v, s_psi, V
        raise _NewtonFailure

    def _factor_newton(self, s: np.ndarray, v: np.ndarray, s_v: np.ndarray, G: np.ndarray) -> None:
        """Factorise the Newton matrix ``A(G + w)``, ``w = v G' ds/dv``, and remember that it is current."""
        w = self.model.conductance_slope_S(s) * v * s_v
        self.solver.factorize(self.solver.branch_conductances(G + w))
        self.stats.n_solves += 1
        self._newton_mark = self.solver.n_solves

    def _filter(
        self, e: np.ndarray, s: np.ndarray, s_v: np.ndarray, s_psi: np.ndarray, vj: np.ndarray, mark: int
    ) -> np.ndarray:
        """``(I - c J)^-1 e``: the linear response of the stage to a perturbation ``e`` of ``psi``
        (``ds = s_psi e + s_v dv``, with ``dv`` from Kirchhoff's law for the current
        ``v G' s_psi e`` that the perturbation injects). Uses the last Newton factorisation of this
        step; if the stage converged without one (or another solve replaced it), the Newton matrix
        at the stage solution is factorised first."""
        if self._newton_mark <= mark or self._newton_mark != self.solver.n_solves:
            self._factor_newton(s, vj, s_v, self.model.conductance_S(s))
        q = vj * self.model.conductance_slope_S(s) * (s_psi * e)
        dx = self.solver.solve_factored(-(self._kcl.Bj @ q))
        self.stats.n_solves += 1
        return s_psi * e + s_v * (self._kcl.BjT @ dx)

    # ------------------------------------------------------------------ integration
    def integrate(
        self,
        s: np.ndarray,
        x: np.ndarray,
        span_s: float,
        driven_V: np.ndarray | Callable[[float], np.ndarray],
        *,
        t0_s: float = 0.0,
        h_s: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance by ``span_s`` seconds from ``t0_s`` with the sources at ``driven_V``.

        Parameters
        ----------
        s : ndarray, shape (n_junctions,)
            State at ``t0_s`` (inside the model's bounds).
        x : ndarray, shape (n_unknowns,)
            Starting guess of the unknown node voltages (any values; Newton makes them consistent).
        span_s : float
            Length of the interval in seconds (> 0). The sources must be smooth inside it.
        driven_V : ndarray of shape (n_driven,), or callable ``t -> ndarray``
            Source voltages: constant (a held sample) or a function of the absolute time,
            evaluated strictly inside the interval.
        t0_s : float
            Absolute time of the start (for a callable ``driven_V``, the monitor and messages).
            The steps are computed in local time, so a held sample gives the same result bit
            for bit at any ``t0_s``.
        h_s : float, optional
            First step to try; default the last proposal of this integrator, else the interval.

        Returns
        -------
        s, x, V : ndarray
            State at the end, the unknowns and all node voltages there (Kirchhoff-consistent with
            the sources' value just before the end).
        """
        span = float(span_s)
        const = not callable(driven_V)
        if const:
            vd_const = np.asarray(driven_V, dtype=float)
        lo_t, hi_t = 1e-6 * span, span - 1e-6 * span  # strictly inside: one-sided limits at jumps

        def vd_at(tau: float) -> np.ndarray:
            if const:
                return vd_const
            return np.asarray(driven_V(t0_s + min(max(tau, lo_t), hi_t)), dtype=float)  # type: ignore[operator]

        h = h_s if h_s is not None else (self.h_next_s if self.h_next_s is not None else span)
        h = min(h, span)
        t = 0.0
        vd0 = vd_at(0.0)
        if self._vd_last is None or not np.array_equal(vd0, self._vd_last):
            # the sources changed: start Newton from the voltages right after the change (the
            # state is continuous, the voltages jump), one nodal solve
            x = self._consistent(s, vd0)
        V_end = None
        st = self.stats
        worst = (0, 0.0)
        last_rej: tuple[float, float, float] | None = None
        newton_failed = False
        x_old = None  # unknowns at the previous stage point, for the linear predictor
        t_old = 0.0
        while span - t > 1e-12 * span:
            rem = span - t
            if h >= rem or rem - h < 0.05 * h:
                h = rem
            if h < self.h_min_s or t + h == t:
                why = (
                    f"Newton on the node voltages did not reach the Kirchhoff tolerance "
                    f"kcl_rtol={self.kcl_rtol:g} within {self.max_newton} iterations"
                    if newton_failed
                    else f"error ratio {worst[1]:.3g} at junction {worst[0]}"
                )
                raise IntegrationError(
                    f"sdirk2 step size {h:.3g} s fell below h_min_s={self.h_min_s:.3g} s "
                    f"at t={t0_s + t:.9g} s "
                    f"(rtol={self.rtol:g}, atol={self.atol:g}; last rejected step: {why})"
                )
            c = GAMMA * h
            x_pred = x if x_old is None else x + (x - x_old) * (c / (t - t_old))
            mark = self.solver.n_solves
            try:
                x1, s1, _, _, _ = self._stage(s, c, vd_at(t + c), x_pred, loose=True)
                psi2 = s + _EXTRAP * (s1 - s)
                psi_lim = np.clip(psi2, self._lo, self._hi)
                limited = psi_lim != psi2
                x2, s2, s_v, s_psi, V2 = self._stage(psi_lim, c, vd_at(t + h), x + (x1 - x) / GAMMA)
            except _NewtonFailure:
                st.n_rejected += 1
                newton_failed = True
                h *= 0.25
                continue
            newton_failed = False
            e = (s2 - psi_lim) - (s1 - s)
            v2 = V2[self._aj] - V2[self._bj]
            err = np.abs(self._filter(e, s2, s_v, s_psi, v2, mark))
            n_lim = int(np.count_nonzero(limited))
            if n_lim:
                err = err + np.abs(psi2 - psi_lim) * s_psi
            scale = self._atol + self.rtol * np.maximum(np.abs(s), np.abs(s2))
            ratio = err / scale
            if span - (t + h) > 0:  # not the last step of the interval: discount relaxing junctions
                lam = self.model.rate_constant_per_s(s2, v2)
                ratio *= np.exp(-RELAX_DISCOUNT * lam * (span - (t + h)))
            k_worst = int(np.argmax(ratio))
            enorm = float(ratio[k_worst])
            in_bounds = bool(np.all((s2 >= self._lo) & (s2 <= self._hi)))
            if enorm <= 1.0 and in_bounds:
                st.n_steps += 1
                st.n_limited += n_lim
                x_old, t_old = x1, t + c
                t = t + h
                s, x, V_end = s2, x2, V2
                if self.monitor is not None:
                    self.monitor(t0_s + t, s.copy(), V2.copy(), vd_at(t).copy())
                fac = _FAC_MAX if enorm == 0.0 else min(_FAC_MAX, max(0.2, 0.9 * enorm**-0.5))
                h_prop = h * fac
                self.h_next_s = h_prop
                h = h_prop
            else:
                st.n_rejected += 1
                worst = (k_worst, enorm)
                if not np.isfinite(enorm) or enorm <= 1.0:  # non-finite, or out of bounds
                    h_new = 0.25 * h
                else:
                    # the exponent of the error in h: 1/2 asymptotically; after a change of the
                    # sources the observed one (two rejections at the same t) is often far smaller
                    p = 0.5
                    if last_rej is not None and last_rej[0] == t and last_rej[2] > enorm:
                        p = float(np.clip(np.log(last_rej[2] / enorm) / np.log(last_rej[1] / h), 0.2, 2.0))
                    h_new = h * max(1e-4, 0.9 * enorm ** (-1.0 / p) if p != 0.5 else 0.9 * enorm**-0.5)
                last_rej = (t, h, enorm)
                h = h_new
        assert V_end is not None
        self._vd_last = vd_at(span).copy()
        return s, x, V_end

    def _consistent(self, s: np.ndarray, vd: np.ndarray) -> np.ndarray:
        """Unknown node voltages of state ``s`` under the sources ``vd`` (one nodal solve)."""
        solver = self.solver
        p = solver.branch_conductances(self.model.conductance_S(s))
        try:
            solver.factorize(p)
        except SolverError as exc:
            raise IntegrationError(f"nodal solve failed: {exc}") from None
        self.stats.n_solves += 1
        return solver.solve_factored(solver.reduced_rhs(p, vd))
