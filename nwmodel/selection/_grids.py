"""Hyperparameter grids of the registered models: the published ones ("paper") and quick ones."""

from __future__ import annotations

from typing import Any

__all__ = ["GRIDS"]

#: Training part of the trainable-RNN grids, shared by "nwrnn" and "rnn" (keys first, in this order).
_RNN_TRAINING_GRIDS: dict[str, dict[str, list[Any]]] = {
    "paper": {
        "max_epochs": [5000],
        "patience": [10],
        "learning_rate": [0.001, 0.01],
        "batch_size": [64, 128],
        "n_units": [100],
    },
    "quick": {
        "max_epochs": [30],
        "patience": [10],
        "learning_rate": [0.01],
        "batch_size": [64],
        "n_units": [32],
    },
}


def _rnn_grid(level: str, **cell: list[Any]) -> dict[str, list[Any]]:
    """Fresh copy of the ``level`` training grid followed by the cell hyperparameters ``cell``."""
    return {k: list(v) for k, v in {**_RNN_TRAINING_GRIDS[level], **cell}.items()}


#: Hyperparameter grids per model: "paper" = the published Table 3 (N = 100), "quick" = a few points.
#: Parameter names are the estimators' keyword arguments.
GRIDS: dict[str, dict[str, dict[str, list[Any]]]] = {
    "nwesn": {
        "paper": {
            "input_scaling": [1.0, 10.0],
            "bias_scaling": [0.0, 0.001, 0.1, 1.0],
            "spectral_radius": [0.8, 0.9, 0.95, 0.99],
            "gamma": [0.1, 0.5, 0.8, 0.95, 1.0],
            "slope": [1.0, 5.0],
            "dt": [0.1, 0.01, 0.001],
            "n_units": [100],
        },
        "quick": {
            "input_scaling": [1.0],
            "bias_scaling": [0.1],
            "spectral_radius": [0.9],
            "gamma": [0.5, 0.95],
            "slope": [1.0],
            "dt": [0.1],
            "n_units": [100],
        },
    },
    "esn": {
        "paper": {
            "input_scaling": [1.0, 10.0],
            "bias_scaling": [0.001, 0.1, 1.0],
            "spectral_radius": [0.8, 0.9, 0.95, 0.99],
            "leak_rate": [0.1, 0.3, 0.5],
            "n_units": [100],
        },
        "quick": {
            "input_scaling": [1.0],
            "bias_scaling": [0.1],
            "spectral_radius": [0.9],
            "leak_rate": [0.1, 0.5],
            "n_units": [100],
        },
    },
    "nwrnn": {
        "paper": _rnn_grid("paper", gamma=[0.5, 0.8, 0.95, 1.0], slope=[1.0, 5.0], dt=[0.01, 0.1]),
        "quick": _rnn_grid("quick", gamma=[0.95], slope=[1.0], dt=[0.1]),
    },
    "rnn": {
        "paper": _rnn_grid("paper"),
        "quick": _rnn_grid("quick"),
    },
}
