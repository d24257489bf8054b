"""Test-only datasets: small generated classification problems that run in milliseconds."""

from __future__ import annotations

import numpy as np

from nwmodel.data.datasets import Dataset


def ramps_dataset(name: str = "Ramps", seed: int = 0, n: int = 10, length: int = 12) -> Dataset:
    """Rising (class 1) vs falling (class 2) ramps on [-1, 1] plus Gaussian noise (std 0.3).

    Parameters
    ----------
    name : str
        The dataset's name.
    seed : int
        Seed of the noise; the training split is drawn first, then the test split.
    n : int
        Series per class in each split.
    length : int
        Time steps per series.

    Returns
    -------
    Dataset
        Univariate: ``X_train`` and ``X_test`` of shape (2 n, 1, length), labels ``[1]*n + [2]*n``.
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(-1.0, 1.0, length)

    def make() -> tuple[np.ndarray, np.ndarray]:
        X = np.concatenate(
            [t + 0.3 * rng.standard_normal((n, length)), -t + 0.3 * rng.standard_normal((n, length))]
        )[:, None, :]
        return X, np.repeat([1, 2], n)

    return Dataset(*make(), *make(), "classification", name, "generated ramps (test)")
