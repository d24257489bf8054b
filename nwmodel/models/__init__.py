"""The models: reservoir and recurrent estimators, their cells, readouts and baselines.

- :mod:`~nwmodel.models.esn`: NW-ESN and ESN (fixed random reservoirs, ridge readouts);
- :mod:`~nwmodel.models.rnn`: NW-RNN and RNN (trained by backpropagation through time);
- :mod:`~nwmodel.models.kernels`: one definition of the NW-ESN and ESN cells, numpy and torch;
- :mod:`~nwmodel.models.readout`: the readout layer every reservoir shares;
- :mod:`~nwmodel.models.baselines`: the placement baselines (majority, ridge, MiniROCKET).
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "esn": ("ESNClassifier", "ESNRegressor", "NWESNClassifier", "NWESNRegressor"),
    "rnn": ("NWRNNClassifier", "NWRNNRegressor", "RNNClassifier", "RNNRegressor"),
    "kernels": ("ESNCellParams", "NWCellParams", "ReservoirWeights", "init_weights", "run_reservoir"),
    "readout": ("FEATURE_SETS", "RidgeReadout", "fit_readouts", "memory_capacity", "trajectory_features"),
    "baselines": ("BASELINES", "run_baselines"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
