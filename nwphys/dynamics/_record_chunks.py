"""Record chunks of the adaptive methods: integrate between record times, then read out.

A chunk covers records ``r0 .. r1-1`` of a run with records every ``rec_dt`` seconds, the last
one at the end of the run ``t_end_s`` (:func:`record_times`). The integration is split at every
drive breakpoint (:func:`drive_pieces`), so that no step straddles a discontinuity;
:func:`readout` then takes one nodal solve per record for the electrode currents and voltages and
the probed node voltages.
"""

from __future__ import annotations

import itertools

import numpy as np

from nwphys.circuit.nodal import NodalSolver
from nwphys.dynamics._sim_checks import check_conductance
from nwphys.dynamics.drives import Drive
from nwphys.dynamics.implicit import StiffIntegrator
from nwphys.junctions import JunctionModel

__all__ = ["drive_pieces", "readout", "record_times", "sdirk_chunk"]


def record_times(r0: int, r1: int, rec_dt: float, t_end_s: float) -> np.ndarray:
    """Times in seconds of records ``r0 .. r1-1``: ``r rec_dt``, at most ``t_end_s``.

    A run of ``t_end_s`` seconds has ``ceil(t_end_s / rec_dt) + 1`` records, the last one at
    ``t_end_s`` itself, also when ``rec_dt`` does not divide ``t_end_s``.
    """
    return np.minimum(np.arange(r0, r1) * rec_dt, t_end_s)


def readout(
    solver: NodalSolver,
    model: JunctionModel,
    states: np.ndarray,
    dv: np.ndarray,
    t_s: np.ndarray,
    probe: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Records of the states ``states`` (n, n_junctions) under sources ``dv`` (n, n_driven)."""
    circuit = solver.circuit
    n_out, ne = states.shape[0], circuit.n_electrodes
    recs: dict[str, np.ndarray] = {
        "g": states.copy(),
        "electrode_current_A": np.empty((n_out, ne)),
        "electrode_voltage_V": np.empty((n_out, ne)),
    }
    if probe is not None:
        recs["node_voltage_V"] = np.empty((n_out, probe.size))
    for i in range(n_out):
        G = model.conductance_S(states[i])
        check_conductance(G, float(t_s[i]))
        V = solver.node_voltages(G, dv[i])
        recs["electrode_current_A"][i] = solver.electrode_currents(G, dv[i], V)
        recs["electrode_voltage_V"][i] = V[circuit.electrode_node]
        if probe is not None:
            recs["node_voltage_V"][i] = V[probe]
    return recs


def drive_pieces(drive: Drive, t0: float, t1: float, tol: float) -> list[float]:
    """``t0``, the drive's breakpoints inside ``(t0, t1)`` (none within ``tol`` of a cut), ``t1``."""
    cuts = [t0]
    for bp in drive.breakpoints(t0, t1):
        if bp - cuts[-1] > tol and t1 - bp > tol:
            cuts.append(float(bp))
    cuts.append(t1)
    return cuts


def sdirk_chunk(
    integ: StiffIntegrator,
    drive: Drive,
    g: np.ndarray,
    x: np.ndarray,
    r0: int,
    r1: int,
    n_rows: int,
    rec_dt: float,
    probe: np.ndarray | None,
    *,
    t_end_s: float = np.inf,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``"sdirk2"`` from record ``r0`` (state ``g``): records ``r0 .. r1-1`` and the state at ``r1``.

    The records are at :func:`record_times` (``t_end_s``: the end of the run, the time of its
    last record ``n_rows - 1``).
    """
    r_end = min(r1, n_rows - 1)
    t_rec = record_times(r0, r_end + 1, rec_dt, t_end_s)
    states = np.empty((t_rec.size, g.size))
    states[0] = g
    for i in range(t_rec.size - 1):
        pieces = drive_pieces(drive, float(t_rec[i]), float(t_rec[i + 1]), 1e-9 * rec_dt)
        for ta, tb in itertools.pairwise(pieces):
            g, x, _ = integ.integrate(g, x, tb - ta, lambda t: drive.voltages(t)[0], t0_s=ta)
        states[i + 1] = g
    n_out = r1 - r0
    recs = readout(
        integ.solver, integ.model, states[:n_out], drive.voltages(t_rec[:n_out]), t_rec[:n_out], probe
    )
    return states[-1].copy(), x, recs
