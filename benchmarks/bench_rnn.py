"""NW-RNN training time per epoch against a plain ``torch.nn.RNN`` of the same size, one core.

Datasets: SyntheticControl (300 x 60) and Earthquakes (322 x 512) from ``NWHIL_DATA``, float32,
N = 100, batch 64, Adam; an epoch = the mini-batch pass over the fitting part (80 % of the
training set) plus the loss on the 20 % early-stopping part, as in ``NWRNNClassifier.fit``.
Columns, all timed in the same run (best epoch of ``--epochs``):

* ``nw-rnn``: ``NWRNNClassifier`` (the fused BPTT of ``nwmodel.models._bptt``);
* ``rnn``: our ``RNNClassifier`` (the same trainer with the tanh cell);
* ``torch.nn.RNN``: ``torch.nn.RNN(tanh) + Linear`` trained by the same loop with autograd;
* ``nw-rnn stack of K``: K NW-RNN models trained as one stack (``fit_stacked``), per model.

Usage::

    OMP_NUM_THREADS=1 NWHIL_DATA=../shared/data .venv/bin/python benchmarks/bench_rnn.py
        [--epochs 3] [--stack 8] [--datasets SyntheticControl Earthquakes]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def _torch_rnn_epoch_s(X: np.ndarray, y: np.ndarray, n_units: int, epochs: int, batch: int) -> float:
    """Best epoch time of torch.nn.RNN + Linear with the loop of our trainer."""
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    n_fit = round(0.8 * len(y))
    fit, val = idx[:n_fit], idx[n_fit:]
    U = torch.as_tensor(np.transpose(X, (2, 0, 1)).copy(), dtype=torch.float32)
    T = torch.as_tensor(np.unique(y, return_inverse=True)[1])
    rnn = torch.nn.RNN(X.shape[1], n_units, nonlinearity="tanh")
    lin = torch.nn.Linear(n_units, int(T.max()) + 1)
    opt = torch.optim.Adam([*rnn.parameters(), *lin.parameters()], lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    best = np.inf
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.as_tensor(fit)[torch.randperm(n_fit, generator=gen)]
        for start in range(0, n_fit, batch):
            b = perm[start : start + batch]
            opt.zero_grad()
            _, h = rnn(U[:, b])
            loss = torch.nn.functional.cross_entropy(lin(h[0]), T[b])
            loss.backward()
            opt.step()
        with torch.no_grad():
            _, h = rnn(U[:, val])
            float(torch.nn.functional.cross_entropy(lin(h[0]), T[val]))
        best = min(best, time.perf_counter() - t0)
    return best


def _ours_epoch_s(make, X: np.ndarray, y: np.ndarray, epochs: int, stack: int = 1) -> float:
    """Best epoch time per model of our estimator(s) (epoch times from repeated short fits)."""
    from nwmodel.models.rnn import fit_stacked

    best = np.inf
    for rep in range(epochs):
        ests = [make(seed=rep * stack + k) for k in range(stack)]
        t0 = time.perf_counter()
        fit_stacked(ests, X, y)
        best = min(best, (time.perf_counter() - t0) / stack)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed per column (best is kept)")
    parser.add_argument("--stack", type=int, default=8, help="models in the stacked column")
    parser.add_argument("--datasets", nargs="+", default=["SyntheticControl", "Earthquakes"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    from nwmodel.data.datasets import load_dataset
    from nwmodel.models.rnn import NWRNNClassifier, RNNClassifier

    kw = {"n_units": 100, "batch_size": 64, "learning_rate": 1e-3, "max_epochs": 1, "dtype": "float32"}
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, float32, N = 100, batch 64")
    header = f"{'dataset':<18}{'shape':>10}{'nw-rnn s':>10}{'rnn s':>9}{'torch.nn.RNN s':>16}"
    header += f"{'nw/torch':>10}{f'stack {args.stack} s/model':>18}"
    print(header)
    for name in args.datasets:
        ds = load_dataset(name)
        X, y = ds.X_train.astype(np.float32), ds.y_train
        t_torch = _torch_rnn_epoch_s(X, y, 100, args.epochs, 64)
        t_nw = _ours_epoch_s(lambda seed: NWRNNClassifier(**kw, random_state=seed), X, y, args.epochs)
        t_rnn = _ours_epoch_s(lambda seed: RNNClassifier(**kw, random_state=seed), X, y, args.epochs)
        t_stack = _ours_epoch_s(
            lambda seed: NWRNNClassifier(**kw, random_state=seed), X, y, max(1, args.epochs // 2), args.stack
        )
        shape = f"{X.shape[0]}x{X.shape[2]}"
        print(
            f"{name:<18}{shape:>10}{t_nw:>10.3f}{t_rnn:>9.3f}{t_torch:>16.3f}"
            f"{t_nw / t_torch:>10.2f}{t_stack:>18.3f}"
        )
    print("target: nw/torch <= 2")


if __name__ == "__main__":
    main()
