"""Compiled sparse LDL^T kernels for a symmetric positive definite matrix on a fixed pattern.

The batched engine (:mod:`nwphys.dynamics.batched`) refactorises the Newton matrix of a circuit many
thousand times on one sparsity pattern. These kernels split the work the textbook way (the
up-looking LDL^T of T. A. Davis, *Direct Methods for Sparse Linear Systems*, SIAM 2006, ch. 4):

* :func:`ldl_symbolic`, once per pattern: the elimination tree and the column counts of ``L``;
* :func:`ldl_schedule`, once per pattern: the row indices of ``L`` and, for every row, the columns
  that the up-looking factorisation updates it from (each row's pattern, found by walking the
  elimination tree, in the order of that walk) and where each entry goes;
* :func:`ldl_numeric`, per matrix: the numeric factor ``L`` (unit lower triangular, CSC) and the
  reciprocals ``Dinv`` of the diagonal ``D`` (a solve then multiplies instead of dividing), row
  by row along the schedule (no tree walk, no index written: a fixed pattern needs its symbolic
  work once, not at every factorisation);
* :func:`ldl_solve`, per right-hand side: ``L D L^T x = b`` in place.

The matrix is given by its **upper** triangle in CSC (``Ap``, ``Ai``, ``Ax``; every diagonal entry
stored). There is no pivoting: the caller orders the unknowns (a fill-reducing ordering) and
guarantees positive definiteness; ``ldl_numeric`` returns ``False`` when a pivot is not positive
and finite, which the caller reports. All kernels are plain loops compiled by numba with
``cache=True``: no Python call is made per row, which is what makes small systems fast.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["ldl_numeric", "ldl_schedule", "ldl_solve", "ldl_symbolic"]


@nb.njit(cache=True)
def ldl_symbolic(n: int, Ap: np.ndarray, Ai: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elimination tree and column pointers of ``L`` for the upper-CSC pattern ``(Ap, Ai)``.

    Returns
    -------
    Lp : ndarray of int64, shape (n + 1,)
        Column pointers of the strictly lower factor ``L``.
    parent : ndarray of int64, shape (n,)
        Elimination-tree parent of every column (-1 at a root).
    """
    parent = np.full(n, -1, dtype=np.int64)
    flag = np.empty(n, dtype=np.int64)
    lnz = np.zeros(n, dtype=np.int64)
    for k in range(n):
        flag[k] = k
        for p in range(Ap[k], Ap[k + 1]):
            i = Ai[p]
            if i < k:
                while flag[i] != k:
                    if parent[i] == -1:
                        parent[i] = k
                    lnz[i] += 1
                    flag[i] = k
                    i = parent[i]
    Lp = np.zeros(n + 1, dtype=np.int64)
    for k in range(n):
        Lp[k + 1] = Lp[k] + lnz[k]
    return Lp, parent


@nb.njit(cache=True)
def ldl_schedule(
    n: int, Ap: np.ndarray, Ai: np.ndarray, Lp: np.ndarray, parent: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed row indices of ``L`` and the update schedule of :func:`ldl_numeric`.

    Row ``k`` of ``L`` has an entry in every column ``i`` that the elimination tree reaches from the
    entries ``A[i, k]``, ``i < k``; the up-looking factorisation computes them in the order of
    that walk (descendants first), and entry ``L[k, i]`` is the next one of column ``i``.

    Returns
    -------
    Li : ndarray of int64, shape (Lp[n],)
        Row index of every entry of ``L``.
    Rp : ndarray of int64, shape (n + 1,)
        Row pointers into ``Rc`` and ``Rq``.
    Rc : ndarray of int64, shape (Lp[n],)
        For row ``k``, ``Rc[Rp[k]:Rp[k + 1]]``: the columns of its entries, in the order of the walk.
    Rq : ndarray of int64, shape (Lp[n],)
        Their positions in ``Li`` / ``Lx``.
    """
    flag = np.empty(n, dtype=np.int64)
    pattern = np.empty(n, dtype=np.int64)
    lnz = np.zeros(n, dtype=np.int64)
    Li = np.empty(Lp[n], dtype=np.int64)
    Rp = np.zeros(n + 1, dtype=np.int64)
    Rc = np.empty(Lp[n], dtype=np.int64)
    Rq = np.empty(Lp[n], dtype=np.int64)
    q = 0
    for k in range(n):
        top = n
        flag[k] = k
        for p in range(Ap[k], Ap[k + 1]):
            i = Ai[p]
            if i <= k:
                length = 0
                while flag[i] != k:
                    pattern[length] = i
                    length += 1
                    flag[i] = k
                    i = parent[i]
                while length > 0:
                    top -= 1
                    length -= 1
                    pattern[top] = pattern[length]
        while top < n:
            i = pattern[top]
            p2 = Lp[i] + lnz[i]
            lnz[i] += 1
            Li[p2] = k
            Rc[q] = i
            Rq[q] = p2
            q += 1
            top += 1
        Rp[k + 1] = q
    return Li, Rp, Rc, Rq


@nb.njit(cache=True)
def ldl_numeric(
    n: int,
    Ap: np.ndarray,
    Ai: np.ndarray,
    Ax: np.ndarray,
    Lp: np.ndarray,
    Li: np.ndarray,
    Lx: np.ndarray,
    Dinv: np.ndarray,
    y: np.ndarray,
    Rp: np.ndarray,
    Rc: np.ndarray,
    Rq: np.ndarray,
) -> bool:
    """Numeric factorisation ``A = L D L^T`` into ``Lx`` and ``Dinv = 1 / D`` (overwritten) along the schedule
    ``(Li, Rp, Rc, Rq)`` of :func:`ldl_schedule`.

    ``y`` is a work array of length ``n`` that must be zero on entry and is zero on return.
    Returns ``False`` when a pivot ``D[k]`` is not positive and finite (the matrix is not
    numerically positive definite); the factor is then unusable.
    """
    for k in range(n):
        y[k] = 0.0
        for p in range(Ap[k], Ap[k + 1]):
            i = Ai[p]
            if i <= k:
                y[i] += Ax[p]
        dk = y[k]
        y[k] = 0.0
        for q in range(Rp[k], Rp[k + 1]):
            i = Rc[q]
            p2 = Rq[q]
            yi = y[i]
            y[i] = 0.0
            for p in range(Lp[i], p2):
                y[Li[p]] -= Lx[p] * yi
            lki = yi * Dinv[i]
            dk -= lki * yi
            Lx[p2] = lki
        if not (dk > 0.0 and dk < np.inf):
            return False
        Dinv[k] = 1.0 / dk
    return True


@nb.njit(cache=True)
def ldl_solve(
    n: int, Lp: np.ndarray, Li: np.ndarray, Lx: np.ndarray, Dinv: np.ndarray, x: np.ndarray
) -> None:
    """Solve ``L D L^T x = b`` in place (``x`` holds ``b`` on entry; ``Dinv = 1 / D`` as
    :func:`ldl_numeric` leaves it)."""
    for j in range(n):
        xj = x[j]
        for p in range(Lp[j], Lp[j + 1]):
            x[Li[p]] -= Lx[p] * xj
    for j in range(n):
        x[j] *= Dinv[j]
    # two partial sums per row of L^T: half the chain of dependent multiply-adds
    for j in range(n - 1, -1, -1):
        s0 = x[j]
        s1 = 0.0
        p = Lp[j]
        end = Lp[j + 1]
        while p + 1 < end:
            s0 -= Lx[p] * x[Li[p]]
            s1 -= Lx[p + 1] * x[Li[p + 1]]
            p += 2
        if p < end:
            s0 -= Lx[p] * x[Li[p]]
        x[j] = s0 + s1
