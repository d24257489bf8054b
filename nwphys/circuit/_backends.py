"""Linear-solver backends of :class:`~nwphys.circuit.nodal.NodalSolver`: one small class per backend.

A backend solves the reduced nodal system ``A x = b`` on a fixed :class:`NodalPattern`. It
provides, as :class:`NodalBackend` declares:

1. ``name``: its key in :data:`BACKENDS` (and the ``backend=`` name of the solver).
2. ``available()``: whether it can run here (optional packages are imported lazily).
3. ``ordering(pattern)``: optionally a fill-reducing order of the unknowns, which the solver applies
   by renumbering them once at construction (``None``: keep the natural order).
4. ``__init__(pattern, options)``: the work done once per pattern and kept between solves (the
   symbolic analysis, persistent matrix objects, a warm start).
5. ``factorize(p_S)``: the numeric work for branch conductances ``p_S``; it returns a
   :class:`Factorization`, whose ``solve(rhs)`` is valid until the next ``factorize`` of the
   same backend.
6. ``reset()``: forget what the backend carries from one solve to the next that changes
   results (only the warm start of ``"cg"``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from nwphys.circuit._pattern import NodalPattern
from nwphys.errors import SolverError

__all__ = ["BACKENDS", "BackendOptions", "Factorization", "NodalBackend"]


class Factorization(Protocol):
    """What :meth:`NodalBackend.factorize` returns."""

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solution ``x`` of ``A x = rhs``, shape (n_unknowns,), in the pattern's order."""
        ...


@dataclass(frozen=True)
class BackendOptions:
    """Options of the backends that take any (``cg_rtol``, ``cg_maxiter``: ``"cg"`` only)."""

    cg_rtol: float = 1e-13
    cg_maxiter: int = 10_000


class NodalBackend:
    """Base class of the backends (see the module docstring for what a subclass provides)."""

    name: ClassVar[str]
    #: Module that must be importable for the backend to run (None: numpy/scipy only).
    requires: ClassVar[str | None] = None

    def __init__(self, pattern: NodalPattern, options: BackendOptions) -> None:
        self.pattern = pattern
        self.options = options

    @classmethod
    def available(cls) -> bool:
        """True when the backend's optional package is importable."""
        if cls.requires is None:
            return True
        try:
            importlib.import_module(cls.requires)
        except ImportError:
            return False
        return True

    @classmethod
    def ordering(cls, pattern: NodalPattern) -> np.ndarray | None:
        """Fill-reducing order ``order[new] = old`` of the unknowns of ``pattern``, or None."""
        return None

    def factorize(self, p_S: np.ndarray) -> Factorization:
        """Numerically factorise the matrix of branch conductances ``p_S`` (siemens)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the state carried between solves (none for a direct method)."""

    def _ones(self) -> sp.csc_matrix:
        """A persistent matrix on the pattern, whose values the backend overwrites in place."""
        return self.pattern.matrix(np.ones(self.pattern.M.shape[1]))


_SPD_LU = {"diag_pivot_thresh": 0.0, "options": {"SymmetricMode": True}}


class SpluBackend(NodalBackend):
    """SuperLU (:func:`scipy.sparse.linalg.splu`) with a minimum-degree ordering computed once.

    Kept between solves: the ordering (as the solver's numbering of the unknowns) and one CSC
    matrix whose values are overwritten. Each solve calls ``splu`` with ``permc_spec="NATURAL"``,
    no pivoting and ``SymmetricMode``; SuperLU redoes its (cheap) symbolic pass every time, as
    scipy exposes no numeric-only refactorisation.
    """

    name = "splu"

    def __init__(self, pattern: NodalPattern, options: BackendOptions) -> None:
        super().__init__(pattern, options)
        self._A = self._ones()

    @classmethod
    def ordering(cls, pattern: NodalPattern) -> np.ndarray:
        A = pattern.matrix(np.ones(pattern.M.shape[1]))
        lu = spla.splu(A, permc_spec="MMD_AT_PLUS_A", **_SPD_LU)
        perm = np.asarray(lu.perm_c, dtype=np.int64)
        order = np.empty(A.shape[0], dtype=np.int64)
        order[perm] = np.arange(A.shape[0])  # order[new] = old unknown index
        return order

    def factorize(self, p_S: np.ndarray) -> Factorization:
        A = self._A
        A.data[:] = self.pattern.values(p_S)
        try:
            return spla.splu(A, permc_spec="NATURAL", **_SPD_LU)
        except RuntimeError as exc:
            raise SolverError(f"sparse LU factorisation failed: {exc}") from None


class _QdldlFactor:
    __slots__ = ("_solver",)

    def __init__(self, solver: object) -> None:
        self._solver = solver

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return np.asarray(self._solver.solve(rhs), dtype=float)  # type: ignore[attr-defined]


class QdldlBackend(NodalBackend):
    """The ``qdldl`` package's LDL^T: AMD ordering and elimination tree once, numeric updates.

    Kept between solves: the ``qdldl.Solver`` (its symbolic analysis) and the upper triangle of
    the matrix, whose values are computed directly from the conductances.
    """

    name = "qdldl"
    requires = "qdldl"

    def __init__(self, pattern: NodalPattern, options: BackendOptions) -> None:
        import qdldl

        super().__init__(pattern, options)
        U = sp.triu(self._ones(), format="csc")
        U.sort_indices()
        upper_keys = pattern.indices[pattern.upper_mask].astype(np.int64)
        if not np.array_equal(U.indices, upper_keys):
            raise SolverError("internal error: upper-triangle pattern mismatch")
        self._U = U
        # the upper-triangle values directly: the rows of M are independent dot products, so
        # ``M_up @ p + const_up`` equals ``(M @ p + const)[upper_mask]`` bit for bit
        self._M_up = pattern.M[np.flatnonzero(pattern.upper_mask)]
        self._const_up = pattern.const[pattern.upper_mask]
        self._factor = _QdldlFactor(qdldl.Solver(U, upper=True))

    def factorize(self, p_S: np.ndarray) -> Factorization:
        self._U.data[:] = self._M_up @ p_S + self._const_up
        try:
            self._factor._solver.update(self._U, upper=True)  # type: ignore[attr-defined]
        except Exception as exc:  # pragma: no cover - optional backend
            raise SolverError(f"qdldl factorisation failed: {exc}") from None
        return self._factor


class _CholmodFactor:
    __slots__ = ("_cf",)

    def __init__(self, cf: object) -> None:
        self._cf = cf

    def solve(self, rhs: np.ndarray) -> np.ndarray:  # pragma: no cover - optional backend
        return self._cf(rhs)  # type: ignore[operator]


class CholmodBackend(NodalBackend):  # pragma: no cover - optional backend
    """scikit-sparse's CHOLMOD: symbolic analysis once, a numeric ``cholesky`` per solve."""

    name = "cholmod"
    requires = "sksparse.cholmod"

    def __init__(self, pattern: NodalPattern, options: BackendOptions) -> None:
        from sksparse import cholmod

        super().__init__(pattern, options)
        self._A = self._ones()
        self._chol = cholmod.analyze(self._ones(), mode="auto")

    def factorize(self, p_S: np.ndarray) -> Factorization:
        A = self._A
        A.data[:] = self.pattern.values(p_S)
        try:
            return _CholmodFactor(self._chol.cholesky(A))
        except Exception as exc:
            raise SolverError(f"CHOLMOD factorisation failed: {exc}") from None


class _CGSystem:
    __slots__ = ("_backend", "_data")

    def __init__(self, backend: CGBackend, data: np.ndarray) -> None:
        self._backend = backend
        self._data = data

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return self._backend.pcg(self._data, rhs)


class CGBackend(NodalBackend):
    """Jacobi-preconditioned conjugate gradients, warm-started from the previous solution.

    Kept between solves: the previous solution (the warm start) and one CSR matrix whose values
    are overwritten. ``factorize`` only computes the values; the work is in each solve, to the
    relative residual ``cg_rtol`` within ``cg_maxiter`` iterations.
    """

    name = "cg"

    def __init__(self, pattern: NodalPattern, options: BackendOptions) -> None:
        super().__init__(pattern, options)
        A0 = self._ones()
        # symmetric: the CSC arrays read as CSR give the same matrix
        self._A_csr = sp.csr_matrix((A0.data, pattern.indices, pattern.indptr), shape=A0.shape)
        self._x_prev = np.zeros(pattern.n)

    def reset(self) -> None:
        """Forget the warm start: the next solve starts from zero."""
        self._x_prev = np.zeros(self.pattern.n)

    def factorize(self, p_S: np.ndarray) -> Factorization:
        return _CGSystem(self, self.pattern.values(p_S))

    def pcg(self, data: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """Solve the system of stored values ``data`` for ``rhs`` (updates the warm start)."""
        nu = self.pattern.n
        A = self._A_csr
        A.data[:] = data
        dinv = 1.0 / data[self.pattern.diag_pos]
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
        rtol, maxiter = self.options.cg_rtol, self.options.cg_maxiter
        tol = rtol * bnorm
        if np.linalg.norm(r) <= tol:
            self._x_prev = x
            return x.copy()
        z = dinv * r
        pdir = z.copy()
        rz = r @ z
        for _ in range(maxiter):
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
            f"conjugate gradients did not reach rtol={rtol:g} in {maxiter} iterations "
            f"(residual {np.linalg.norm(r) / max(bnorm, 1e-300):.3g})"
        )


#: Backend name -> class, in the order :func:`~nwphys.circuit.nodal.available_backends` lists them.
BACKENDS: dict[str, type[NodalBackend]] = {
    cls.name: cls for cls in (SpluBackend, CGBackend, QdldlBackend, CholmodBackend)
}
