"""The reports of a comparison: ``comparison.{csv,md,png,h5}`` over every stored cell.

Every file is written atomically (a temporary file in the results directory, then ``os.replace``);
the HDF5 file is the cell store's (:func:`nwmodel._compare_store.write_hdf5`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._compare_backends import BACKENDS
from ._compare_results import CellResult
from ._compare_store import atomic_path, write_hdf5

__all__ = ["plot_comparison", "table_markdown", "write_outputs"]


def _fmt(c: CellResult) -> str:
    return f"{c.test_mean:.3f} ± {c.test_std:.3f}"


def table_markdown(cells: Sequence[CellResult], baselines: Sequence[CellResult] = ()) -> str:
    """Markdown tables: test score (mean ± std) per dataset x backend, then wall time per cell.

    ``baselines`` (results of :func:`~nwmodel.compare.run_baseline_cell`) add one column per
    baseline after the backends, in :data:`nwmodel.baselines.BASELINES` order.
    """
    from .baselines import BASELINES

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


def plot_comparison(cells: Sequence[CellResult], path: str | os.PathLike[str] | None = None) -> Any:
    """Bar chart of test scores (mean ± std) per dataset, one bar per backend; returns the Figure."""
    from matplotlib.figure import Figure

    datasets = list(dict.fromkeys(c.dataset for c in cells))
    backends = [b for b in BACKENDS if any(c.backend == b for c in cells)]
    by = {(c.dataset, c.backend): c for c in cells}
    fig = Figure(figsize=(3.2 * max(1, len(datasets)), 3.4), layout="constrained")
    axes = fig.subplots(1, max(1, len(datasets)), squeeze=False)[0]
    for ax, d in zip(axes, datasets, strict=True):
        xs = [i for i, b in enumerate(backends) if (d, b) in by]
        means = [by[(d, backends[i])].test_mean for i in xs]
        stds = [by[(d, backends[i])].test_std for i in xs]
        ax.bar(xs, means, yerr=stds, capsize=3, color=[f"C{i}" for i in xs])
        ax.set_xticks(range(len(backends)), backends, rotation=30)
        metric = next(c.metric for c in cells if c.dataset == d)
        ax.set_title(d)
        ax.set_ylabel(f"test {metric}")
    if path is not None:
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    return fig


def write_outputs(
    cells: Sequence[CellResult], out_dir: str | os.PathLike[str], *, baselines: Sequence[CellResult] = ()
) -> dict[str, str]:
    """Write ``comparison.{csv,md,png,h5}`` for ``cells``; return their paths by kind.

    ``baselines`` are added to the CSV (rows after the cells) and the markdown (columns).
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
        plot_comparison(cells, paths["plot"])
    write_hdf5(cells, paths["hdf5"])
    return {k: str(v) for k, v in paths.items()}
