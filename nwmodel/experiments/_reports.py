"""The reports of a comparison: ``comparison.{csv,md,png,h5}`` over every stored cell.

Every file is written atomically (a temporary file in the results directory, then ``os.replace``);
the HDF5 file is the cell store's (:func:`nwmodel.experiments._store.write_hdf5`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nwmodel.experiments._backends import BACKENDS
from nwmodel.experiments._results import CellResult
from nwmodel.experiments._store import atomic_path, write_hdf5

__all__ = ["plot_comparison", "table_markdown", "write_outputs"]


def _fmt(c: CellResult) -> str:
    return f"{c.test_mean:.3f} ± {c.test_std:.3f}"


def table_markdown(cells: Sequence[CellResult], baselines: Sequence[CellResult] = ()) -> str:
    """Markdown tables: test score (mean ± std) per dataset x backend, then wall time per cell.

    ``baselines`` (results of :func:`~nwmodel.experiments.compare.run_baseline_cell`) add one column per
    baseline after the backends, in :data:`nwmodel.models.baselines.BASELINES` order.
    """
    from nwmodel.models.baselines import BASELINES

    backends = [b for b in BACKENDS if any(c.backend == b for c in cells)]
    backends += [b for b in BASELINES if any(c.backend == b for c in baselines)]
    cells = [*cells, *baselines]
    datasets = list(dict.fromkeys(c.dataset for c in cells))
    by = {(c.dataset, c.backend): c for c in cells}
    lines = ["| dataset | metric | " + " | ".join(backends) + " |", "|---|---|" + "---|" * len(backends)]
    for d in datasets:
        metric = next(c.metric for c in cells if c.dataset == d)
        arrow = "↑" if metric == "accuracy" else "↓"
        row = [_fmt(by[(d, b)]) if (d, b) in by else "-" for b in backends]
        lines.append(f"| {d} | {metric} {arrow} | " + " | ".join(row) + " |")
    lines += ["", "Wall time per cell (s, selection + test):", ""]
    lines += ["| dataset | " + " | ".join(backends) + " |", "|---|" + "---|" * len(backends)]
    for d in datasets:
        row = [f"{by[(d, b)].wall_time_s:.1f}" if (d, b) in by else "-" for b in backends]
        lines.append(f"| {d} | " + " | ".join(row) + " |")
    seeds = ", ".join(map(str, sorted({c.n_seeds for c in cells})))
    lines += [
        "",
        f"Mean ± std over {seeds} seed(s) of the selected configuration "
        "(80/20 stratified selection split, random_state 42).",
    ]
    if baselines:
        names = ", ".join(b for b in BASELINES if any(c.backend == b for c in baselines))
        lines.append(
            f"Baselines ({names}): fitted on the whole training split with the same seeds, no "
            "selection; majority and ridge are deterministic (std 0)."
        )
    return "\n".join(lines) + "\n"


#: Columns of ``comparison.csv``.
_CSV_COLUMNS = (
    "dataset",
    "backend",
    "metric",
    "test_mean",
    "test_std",
    "n_seeds",
    "val_score",
    "wall_time_s",
    "best_params",
    "test_scores",
)


def _csv_row(c: CellResult) -> list[Any]:
    return [
        c.dataset,
        c.backend,
        c.metric,
        repr(c.test_mean),
        repr(c.test_std),
        c.n_seeds,
        repr(c.val_score),
        f"{c.wall_time_s:.3f}",
        json.dumps(c.best_params, sort_keys=True),
        json.dumps(c.test_scores),
    ]


def _write_csv(cells: Sequence[CellResult], path: Path) -> None:
    import csv

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(_CSV_COLUMNS)
        w.writerows(_csv_row(c) for c in cells)


def _n_test_label(cells: Sequence[CellResult]) -> str:
    """``"n = 40"``: the number of test series of a dataset's cells (``config["n_test"]``); several
    values (cells of runs with another ``max_test``) are joined by ``/``; ``"n = ?"`` when none
    records it."""
    ns = sorted({int(c.config["n_test"]) for c in cells if c.config.get("n_test") is not None})
    return f"n = {'/'.join(map(str, ns))}" if ns else "n = ?"


def plot_comparison(
    cells: Sequence[CellResult],
    path: str | os.PathLike[str] | None = None,
    *,
    baselines: Sequence[CellResult] = (),
) -> Any:
    """Bar chart of test scores (mean ± std) per dataset, one bar per backend; returns the Figure.

    Each dataset's title names the number of test series, ``n`` (from the cells'
    ``config["n_test"]``). A dashed horizontal line marks the test score of a constant guess:
    the dataset's ``"majority"`` baseline when ``baselines`` hold it, else the
    ``config["majority_score"]`` its cells record (when they agree): the majority-class
    accuracy (the share of the test series in the training split's most frequent class, what a
    constant guess scores) or, for regression, the RMSE of predicting the training mean. The
    line is in the axes' legend.

    Parameters
    ----------
    cells : sequence of CellResult
        One bar each.
    path : str or PathLike, optional
        Write the chart there as PNG (atomically).
    baselines : sequence of CellResult, optional
        Baseline results (:func:`~nwmodel.experiments.compare.run_baseline_cell`); only
        ``"majority"`` is drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    datasets = list(dict.fromkeys(c.dataset for c in cells))
    backends = [b for b in BACKENDS if any(c.backend == b for c in cells)]
    by = {(c.dataset, c.backend): c for c in cells}
    majority = {b.dataset: b for b in baselines if b.backend == "majority"}
    fig = Figure(figsize=(3.2 * max(1, len(datasets)), 3.6), layout="constrained")
    axes = fig.subplots(1, max(1, len(datasets)), squeeze=False)[0]
    for ax, d in zip(axes, datasets, strict=True):
        xs = [i for i, b in enumerate(backends) if (d, b) in by]
        means = [by[(d, backends[i])].test_mean for i in xs]
        stds = [by[(d, backends[i])].test_std for i in xs]
        ax.bar(xs, means, yerr=stds, capsize=3, color=[f"C{i}" for i in xs])
        ax.set_xticks(range(len(backends)), backends, rotation=30)
        metric = next(c.metric for c in cells if c.dataset == d)
        ax.set_title(f"{d} ({_n_test_label([c for c in cells if c.dataset == d])} test series)")
        ax.set_ylabel(f"test {metric}")
        level, task = None, next(c.task for c in cells if c.dataset == d)
        if d in majority:
            level = majority[d].test_mean
        else:  # the constant guess each cell records on its own split
            stored = {c.config.get("majority_score") for c in cells if c.dataset == d}
            if len(stored) == 1 and None not in stored:
                level = float(stored.pop())
        if level is not None:
            what = "majority class" if task == "classification" else "training mean"
            ax.axhline(level, color="0.3", linestyle="--", linewidth=1.0, label=f"{what} {level:.3f}")
            ax.legend(loc="best", fontsize=7)
    if path is not None:
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    return fig


def write_outputs(
    cells: Sequence[CellResult], out_dir: str | os.PathLike[str], *, baselines: Sequence[CellResult] = ()
) -> dict[str, str]:
    """Write ``comparison.{csv,md,png,h5}`` for ``cells``; return their paths by kind.

    ``baselines`` are added to the CSV (rows after the cells) and the markdown (columns); the
    ``"majority"`` baseline is drawn as a dashed line on the chart (:func:`plot_comparison`).
    """
    out = Path(out_dir)
    paths = {
        "csv": out / "comparison.csv",
        "markdown": out / "comparison.md",
        "plot": out / "comparison.png",
        "hdf5": out / "comparison.h5",
    }
    _write_csv([*cells, *baselines], paths["csv"])
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(table_markdown(cells, baselines))
    if cells:
        plot_comparison(cells, paths["plot"], baselines=baselines)
    write_hdf5(cells, paths["hdf5"])
    return {k: str(v) for k, v in paths.items()}
