"""The base class of the junction models (:class:`JunctionModel`) and its parameter checks.

The protocol a model implements is described in :mod:`nwphys.junctions`, which holds the
concrete models and the registry.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ._validation import check_real
from .errors import IntegrationError, ValidationError

__all__ = ["JunctionModel", "require_positive"]


class JunctionModel:
    """Base class of junction models (see the module docstring for the protocol).

    Parameters
    ----------
    **params
        Model parameters (scalars, or arrays of shape (n_junctions,)); unknown names raise.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, float]] = {}
    #: groups of parameters that share one random factor under per-junction variability
    spread_groups: ClassVar[tuple[tuple[str, ...], ...]] = ()
    state_bounds: tuple[float, float] = (-np.inf, np.inf)
    #: typical magnitude of the state: the integrators' absolute tolerance is in these units
    state_scale: float = 1.0

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ValidationError(
                f"unknown parameter(s) {', '.join(unknown)} for junction model {self.name!r}; "
                f"allowed: {', '.join(self.defaults)}"
            )
        merged: dict[str, Any] = dict(self.defaults)
        for k, v in params.items():
            if np.ndim(v):
                arr = np.asarray(v, dtype=float)
                if not np.all(np.isfinite(arr)):
                    raise ValidationError(f"{k} must be finite, got non-finite entries")
                merged[k] = arr
            else:
                merged[k] = check_real(k, v)
        self._p = merged
        self._validate()

    def _validate(self) -> None:  # pragma: no cover - overridden
        pass

    @property
    def params(self) -> dict[str, Any]:
        """Copy of the parameter dict (scalars as float, per-junction values as arrays)."""
        return {k: (v.copy() if isinstance(v, np.ndarray) else float(v)) for k, v in self._p.items()}

    def check_n_junctions(self, n_junctions: int) -> None:
        """Raise if per-junction parameter arrays do not have length ``n_junctions``."""
        for k, v in self._p.items():
            if isinstance(v, np.ndarray) and v.shape != (n_junctions,):
                raise ValidationError(
                    f"parameter {k} has shape {v.shape}, circuit has {n_junctions} junctions"
                )

    def conductance_S(self, state: np.ndarray) -> np.ndarray:
        """Conductance in siemens of each junction, shape of ``state``."""
        raise NotImplementedError

    def rhs(self, state: np.ndarray, V: np.ndarray) -> np.ndarray:
        """Time derivative of the state (per second) at junction voltages ``V`` (volts)."""
        raise NotImplementedError

    def step_exact(self, state: np.ndarray, V: np.ndarray, dt_s: float) -> np.ndarray:
        """State after ``dt_s`` seconds with ``V`` frozen (closed form)."""
        raise NotImplementedError

    def resting_state(self, n: int) -> np.ndarray:
        """State of ``n`` junctions at equilibrium under 0 V."""
        raise NotImplementedError

    # -- derivatives for the implicit integrator (finite-difference defaults) --------------
    def rate_jacobian(self, state: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Partial derivatives of :meth:`rhs`: ``(d rhs / d state, d rhs / d V)``, each shape of ``state``.

        The default uses central differences with steps ``1e-6 (1 + |x|)``; override it with the
        analytic derivatives when they are known.
        """
        hs = 1e-6 * (1.0 + np.abs(state))
        hv = 1e-6 * (1.0 + np.abs(V))
        df_ds = (self.rhs(state + hs, V) - self.rhs(state - hs, V)) / (2.0 * hs)
        df_dv = (self.rhs(state, V + hv) - self.rhs(state, V - hv)) / (2.0 * hv)
        return df_ds, df_dv

    def conductance_slope_S(self, state: np.ndarray) -> np.ndarray:
        """``d conductance_S / d state`` in siemens per state unit, broadcastable to the shape of
        ``state`` (default: central differences)."""
        h = 1e-6 * (1.0 + np.abs(state))
        return (self.conductance_S(state + h) - self.conductance_S(state - h)) / (2.0 * h)

    def rate_constant_per_s(self, state: np.ndarray, V: np.ndarray) -> np.ndarray:
        """Inverse switching time of each junction at ``V`` in 1/s (default ``|d rhs / d state|``)."""
        return np.abs(self.rate_jacobian(state, V)[0])

    def stage_solve(
        self, psi: np.ndarray, V: np.ndarray, c_s: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Solve ``state - c_s * rhs(state, V) = psi`` junction by junction at fixed ``V``.

        Parameters
        ----------
        psi : ndarray, shape (n_junctions,)
            Known part of the implicit stage (dimension of the state).
        V : ndarray, shape (n_junctions,)
            Junction voltages in volts, held fixed.
        c_s : float
            Stage coefficient ``gamma * h`` in seconds (> 0).

        Returns
        -------
        state, dstate_dV, dstate_dpsi : ndarray, shape (n_junctions,)
            The solution and its partial derivatives with respect to ``V`` (per volt) and ``psi``.

        Notes
        -----
        The default runs a vectorised Newton iteration from ``psi`` on :meth:`rate_jacobian`
        (relative tolerance 1e-13, at most 50 iterations) and raises
        :class:`~nwphys.errors.IntegrationError` if it does not converge.
        """
        s = np.array(psi, dtype=float)
        for _ in range(50):
            r = s - c_s * self.rhs(s, V) - psi
            df_ds, _ = self.rate_jacobian(s, V)
            ds = -r / (1.0 - c_s * df_ds)
            s = s + ds
            if np.all(np.abs(ds) <= 1e-13 * (1.0 + np.abs(s))):
                break
        else:
            j = int(np.argmax(np.abs(ds)))
            raise IntegrationError(
                f"the implicit stage of junction model {self.name!r} did not converge at junction {j} "
                f"(state {float(s[j])!r}, V={float(V[j])!r} V, c={c_s!r} s)"
            )
        df_ds, df_dv = self.rate_jacobian(s, V)
        inv = 1.0 / (1.0 - c_s * df_ds)
        return s, c_s * df_dv * inv, inv

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={'<array>' if isinstance(v, np.ndarray) else v!r}" for k, v in self._p.items())
        return f"{type(self).__name__}({ps})"


def require_positive(model: JunctionModel, *names: str) -> None:
    """Raise :class:`ValidationError` unless every value of each named parameter is > 0."""
    for k in names:
        v = model._p[k]
        if np.any(np.asarray(v) <= 0):
            raise ValidationError(f"{k} must be > 0 for junction model {model.name!r}, got {v!r}")
