"""Experiments: the abstract-vs-physical comparison, standard tasks and results files.

- :mod:`~nwmodel.experiments.compare`: :func:`~nwmodel.run_comparison`, dataset x backend cells
  under one protocol, content-keyed and resumable;
- :mod:`~nwmodel.experiments.tasks`: memory capacity and NARMA-10 for any regressor;
- :mod:`~nwmodel.experiments.results_io`: predictions as tsml-eval / aeon results files;
- :mod:`~nwmodel.experiments.rehearsal`: a bench run rehearsed on the virtual bench;
- :mod:`~nwmodel.experiments.measurements`: I-V sweeps, pulse trains and relaxation, through any
  device.
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "compare": (
        "BACKENDS", "LOCAL_WORKER_ENVIRON", "ORACLE_PROBES", "CellResult", "ComparisonResult", "dask_mapper",
        "load_baselines", "load_cells", "plot_comparison", "run_baseline_cell", "run_cell", "run_comparison",
        "table_markdown", "write_outputs",
    ),
    "tasks": (
        "MC_METHODS", "TASKS", "memory_capacity_score", "narma10_score", "run_standard_tasks",
        "tasks_markdown",
    ),
    "rehearsal": ("FEATURE_BOUND", "RehearsalReport", "rehearse"),
    "measurements": ("ProtocolRun", "iv_sweep", "pulse_train", "relaxation"),
    "results_io": (
        "MEASURES", "align_probabilities", "results_path", "summary_path", "write_results", "write_summary",
    ),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
