"""The parameters a run file stores with a run of :func:`~nwphys.simulate`.

They are everything that changes the records; a resumed run must match them item by item
(:mod:`nwphys.io.runfile` compares them and names each difference).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nwphys._digest import sha256_of
from nwphys.circuit.circuit import Circuit
from nwphys.dynamics.drives import Drive
from nwphys.junctions import JunctionModel

__all__ = ["run_params"]


def run_params(
    *,
    method: str,
    dt_s: float,
    duration_s: float,
    record_every: int,
    chunk_records: int,
    drive: Drive,
    circuit: Circuit,
    model: JunctionModel,
    rtol: float,
    atol: float,
    max_step_s: float | None,
    ivp_jacobian: str,
    backend: str,
    record_nodes: np.ndarray | None,
    g0: np.ndarray,
    run_info: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """JSON-serialisable parameters of a run: the arguments that change its records, the
    SHA-256 of the drive's content, of the circuit and of the initial state ``g0``, and every
    item of ``run_info``."""
    return {
        "method": method,
        "dt_s": dt_s,
        "duration_s": duration_s,
        "record_every": record_every,
        "chunk_records": chunk_records,
        "drive": drive.spec,
        "drive_sha256": drive.digest(),
        "circuit_sha256": sha256_of(circuit),
        "junction_model": model.name,
        "junction_params": {
            k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in model.params.items()
        },
        "electrode_names": list(circuit.electrode_names),
        "driven": list(drive.driven),
        "n_junctions": circuit.n_junctions,
        "n_nodes": circuit.n_nodes,
        "rtol": rtol,
        "atol": atol,
        "max_step_s": max_step_s,
        "ivp_jacobian": ivp_jacobian,
        "backend": backend,
        "record_nodes": None if record_nodes is None else record_nodes.tolist(),
        "g0_sha256": sha256_of(np.asarray(g0, dtype=float)),
        **dict(run_info or {}),
    }
