"""The batched engine (nwphys.dynamics.batched, both schemes: "sdirk2-sn" and "esdirk3-sn") against
analytic solutions, the one-series integrator and exact linear algebra; its invariants at every
accepted step; failure isolation within a batch; the memory bound; and the registry of
integration methods."""

from __future__ import annotations

import numpy as np
import pytest
from _nwcircuits import random_circuit, single_junction, single_junction_g

from hardware import SimulatedDevice
from hardware.errors import ComplianceError
from nwmodel import SimulatedDeviceSpec
from nwphys.circuit._kirchhoff import KirchhoffResidual
from nwphys.circuit._ldl_kernels import ldl_numeric, ldl_schedule, ldl_solve, ldl_symbolic
from nwphys.circuit.circuit import Circuit
from nwphys.circuit.nodal import NodalSolver
from nwphys.dynamics._sdirk_kernels import exp_nonpositive
from nwphys.dynamics.batched import BatchedEngine
from nwphys.dynamics.integrate import simulate
from nwphys.dynamics.methods import METHODS, get_method
from nwphys.dynamics.stepper import Stepper
from nwphys.errors import BudgetError, ValidationError
from nwphys.junctions import make_junction_model

RTOL, ATOL = 3e-5, 1e-6  # the reservoir device's tolerances


@pytest.fixture(scope="module")
def device() -> SimulatedDevice:
    """The default reservoir device (316 nodes, 1699 junctions, 6 inputs, 4 grounds)."""
    return SimulatedDeviceSpec()()


def _drives(dev: SimulatedDevice, lengths: list[int], amp_V: float, seed: int) -> list[np.ndarray]:
    """Random held drives of the inputs in [-amp, amp] V (grounds at 0 V), one per length."""
    rng = np.random.default_rng(seed)
    n_in, n_gnd = dev.n_inputs, len(dev.ground_names)
    return [
        np.concatenate([rng.uniform(-amp_V, amp_V, (n, n_in)), np.zeros((n, n_gnd))], axis=1) for n in lengths
    ]


# ---------------------------------------------------------------------------- exact references
@pytest.mark.parametrize("scheme", ["sdirk2", "esdirk3"])
@pytest.mark.parametrize("V", [0.5, 1.5, 3.0, 6.0])
def test_single_junction_matches_closed_form(V: float, scheme: str) -> None:
    """One junction between two driven electrodes: g(t) = g_inf + (g0 - g_inf) exp(-(kp + kd) t)."""
    c = single_junction()
    m = make_junction_model("rate_balance")
    p = m.params
    g0, dt = 0.05, 0.01
    exact = single_junction_g(p, V, g0, np.arange(1, 101) * dt)
    eng = BatchedEngine(c, m, driven=("in", "out"), rtol=1e-7, atol=1e-9, probe_nodes=[0, 1], scheme=scheme)
    drive = np.tile([V, 0.0], (100, 1))
    (r,) = eng.run([drive], dt, g0=np.array([g0]), record=[np.ones(100, bool)])
    assert r.ok
    # the current is G(g) V: recover g from the reading at the end of every sample
    g = (r.electrode_current_A[:, 0] / V - p["G_min_S"]) / (p["G_max_S"] - p["G_min_S"])
    np.testing.assert_allclose(g, exact, rtol=0, atol=1e-6)
    assert abs(r.g_final[0] - exact[-1]) <= 1e-6


def test_ldl_kernels_solve_a_laplacian_exactly() -> None:
    """Symbolic and numeric LDL^T on a grounded random Laplacian equal a dense solve to 1e-12."""
    rng = np.random.default_rng(0)
    n = 60
    A = np.zeros((n, n))
    for _ in range(240):
        i, j = rng.choice(n, 2, replace=False)
        w = rng.uniform(1e-3, 1.0)
        A[i, i] += w
        A[j, j] += w
        A[i, j] -= w
        A[j, i] -= w
    A += np.diag(rng.uniform(1e-3, 1e-2, n))  # grounded: positive definite
    U = np.triu(A)
    cols = [np.flatnonzero(U[:, k]) for k in range(n)]
    Ap = np.concatenate([[0], np.cumsum([c.size for c in cols])]).astype(np.int64)
    Ai = np.concatenate(cols).astype(np.int64)
    Ax = np.concatenate([U[c, k] for k, c in enumerate(cols)])
    Lp, parent = ldl_symbolic(n, Ap, Ai)
    Li, Rp, Rc, Rq = ldl_schedule(n, Ap, Ai, Lp, parent)
    Lx, Dinv, y = np.empty(Lp[-1]), np.empty(n), np.zeros(n)
    assert ldl_numeric(n, Ap, Ai, Ax, Lp, Li, Lx, Dinv, y, Rp, Rc, Rq)
    # the pattern is that of the dense factor's nonzeros (no entry missing, every stored one placed)
    C = np.linalg.cholesky(A)
    Ld = C / np.diag(C)
    np.testing.assert_allclose(Dinv, 1.0 / np.diag(C) ** 2, rtol=1e-12)  # the reciprocal pivots
    stored = np.zeros((n, n), bool)
    stored[Li, np.repeat(np.arange(n), np.diff(Lp))] = True
    assert not (np.abs(np.tril(Ld, -1)) > 1e-14)[~stored].any()
    b = rng.normal(size=n)
    x = b.copy()
    ldl_solve(n, Lp, Li, Lx, Dinv, x)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-12, atol=1e-12 * np.abs(x).max())
    assert not y.any()
    Ax_bad = Ax.copy()
    Ax_bad[Ap[1:] - 1] = -1.0  # negative diagonal: not positive definite
    assert not ldl_numeric(n, Ap, Ai, Ax_bad, Lp, Li, Lx, Dinv, np.zeros(n), Rp, Rc, Rq)


def test_cached_kernels_follow_the_ldl_source() -> None:
    """The engine's kernels record the digest of the LDL kernels they call (numba's disk cache would
    otherwise keep running the old LDL code after a change to that file alone)."""
    import hashlib
    from pathlib import Path

    import nwphys.circuit._ldl_kernels as ldl
    from nwphys.dynamics import _sdirk_kernels

    digest = hashlib.sha256(Path(ldl.__file__).read_bytes()).hexdigest()
    assert _sdirk_kernels.LDL_SOURCE_SHA256 == digest, (
        "nwphys/circuit/_ldl_kernels.py changed: set LDL_SOURCE_SHA256 in "
        f"nwphys/dynamics/_sdirk_kernels.py to {digest}"
    )


def test_vector_exp_matches_numpy() -> None:
    x = -np.concatenate([np.linspace(0, 50, 20001), np.linspace(50, 700, 2001), [0.0, 1e-300, 1e-9]])
    out, work = np.empty_like(x), np.empty(x.size, np.int64)
    exp_nonpositive(x, out, work)
    np.testing.assert_allclose(out, np.exp(x), rtol=1e-13, atol=0)


@pytest.mark.parametrize("series_resistance_ohm", [0.0, 82.0])
def test_stage_residual_is_the_residual_bit_for_bit(series_resistance_ohm: float) -> None:
    """The Newton loop's residual, which takes the junction voltages from the stage evaluation,
    gives the same imbalance, scale and relative norm as the residual from the node voltages, bit for
    bit, and the norm is the relative Kirchhoff residual of an independent implementation."""
    from nwphys.dynamics import _sdirk_kernels as K

    c = random_circuit(60, seed=1, n_electrodes=3, series_resistance_ohm=series_resistance_ohm)
    eng = BatchedEngine(c, make_junction_model("rate_balance"), driven=("in", "out"), rtol=1e-4, atol=1e-5)
    top = eng._top
    rng = np.random.default_rng(2)
    x, vd = rng.uniform(-1, 1, top.n + 1), np.array([1.3, -0.4])
    G = rng.uniform(1e-4, 1e-2, top.nj)
    V = np.zeros(top.n_nodes)
    K._expand(top, x, vd, V)
    vj = V[top.ba[: top.nj]] - V[top.bb[: top.nj]]
    F1, F2 = np.zeros(top.n + 1), np.zeros(top.n + 1)
    s1, s2 = np.zeros(2 * (top.n + 1)), np.zeros(2 * (top.n + 1))
    r1 = K._residual(top, G, V, vd, F1, s1)
    r2 = K._stage_residual(top, G, vj, V, vd, F2, s2)
    assert r1 == r2 and np.array_equal(F1, F2) and np.array_equal(s1, s2) and 1e-6 < r1 < 1.0
    assert np.array_equal(F1[: top.n], s1[0 : 2 * top.n : 2])  # the imbalance, beside its scale
    solver = NodalSolver(c, driven=eng.driven)
    kcl = KirchhoffResidual(solver)
    _, rel = kcl.residual(solver.branch_conductances(G), V[kcl.a] - V[kcl.b], V, vd)
    assert r1 == pytest.approx(rel, rel=1e-12)


# ---------------------------------------------------------------------------- the reservoir device
@pytest.mark.parametrize("scheme", ["sdirk2", "esdirk3"])
def test_batch_equals_one_series_runs(device: SimulatedDevice, scheme: str) -> None:
    """Series of different lengths and drives in one batch equal the exact-Newton integrator run one
    series at a time at the same tolerances: both are within their local error control of the
    solution, and the readings differ by at most 1e-4 of the series' largest current (measured:
    about 1e-6), the final states by at most 1e-4."""
    drives = _drives(device, [7, 30, 1, 18], amp_V=1.2, seed=1)
    step = device._stepper
    eng = BatchedEngine(device.circuit, device.model, driven=step.driven, rtol=RTOL, atol=ATOL, scheme=scheme)
    batch = eng.run(drives, 0.1, g0=device._g_initial)
    ref = Stepper(
        device.circuit, device.model, driven=step.driven, g0=device._g_initial, rtol=RTOL, atol=ATOL
    )
    for d, r in zip(drives, batch, strict=True):
        ref.reset()
        o = ref.run(d, 0.1)
        assert r.ok and r.electrode_current_A.shape == o.electrode_current_A.shape
        scale = np.abs(o.electrode_current_A).max()
        assert np.abs(r.electrode_current_A - o.electrode_current_A).max() <= 1e-4 * scale
        assert np.abs(r.electrode_voltage_V - o.electrode_voltage_V).max() <= 1e-4 * np.abs(d).max()
        assert np.abs(r.g_final - o.g_final).max() <= 1e-4
        # a series does not depend on the batch it is in
        (alone,) = eng.run([d], 0.1, g0=device._g_initial)
        np.testing.assert_array_equal(alone.electrode_current_A, r.electrode_current_A)


@pytest.mark.parametrize("scheme", ["sdirk2", "esdirk3"])
@pytest.mark.parametrize("amp_V", [1.2, 3.0])
def test_invariants_at_every_accepted_step(device: SimulatedDevice, amp_V: float, scheme: str) -> None:
    """0 <= g <= 1 at every accepted step; the read voltages satisfy Kirchhoff's law to kcl_rtol,
    the others to kcl_inner_rtol; checked again independently on every reading with the states
    read with it. The Newton matrix is reused: fewer factorisations than Newton iterations."""
    drives = _drives(device, [12, 12], amp_V=amp_V, seed=2)
    step = device._stepper
    nodes = np.arange(device.circuit.n_nodes)
    eng = BatchedEngine(
        device.circuit, device.model, driven=step.driven, rtol=RTOL, atol=ATOL, probe_nodes=nodes,
        scheme=scheme,
    )
    solver = NodalSolver(device.circuit, driven=step.driven)
    kcl = KirchhoffResidual(solver)
    for d, r in zip(drives, eng.run(drives, 0.1, g0=device._g_initial, keep_states=True), strict=True):
        assert r.ok
        assert r.stats["n_factor"] < r.stats["n_newton"] / 5  # exact Newton: equal
        assert 0.0 <= r.g_min <= r.g_max <= 1.0
        assert r.kcl_max <= eng.kcl_rtol
        assert r.kcl_inner_max <= eng.kcl_inner_rtol
        np.testing.assert_array_equal(r.g[-1], r.g_final)
        # independent check of every reading: the imbalance at every unknown node
        for V, g, dk in zip(r.node_voltage_V, r.g, d, strict=True):
            p = solver.branch_conductances(device.model.conductance_S(g))
            _, rel = kcl.residual(p, V[kcl.a] - V[kcl.b], V, dk)
            assert rel <= 1e-9


@pytest.mark.parametrize("scheme", ["sdirk2", "esdirk3"])
def test_failed_series_is_reported_alone(device: SimulatedDevice, scheme: str) -> None:
    """A series whose step falls below h_min_s stops with a message; its driven neighbours, before
    and after it, read and end exactly as when run alone."""
    step = device._stepper
    calm, hard = _drives(device, [5], 0.2, 0)[0], _drives(device, [5], 8.0, 3)[0]
    eng = BatchedEngine(
        device.circuit, device.model, driven=step.driven, rtol=RTOL, atol=ATOL, h_min_s=1e-3, scheme=scheme
    )
    r_calm, r_hard, r_calm2 = eng.run([calm, hard, calm], 0.1, g0=device._g_initial)
    assert not r_hard.ok
    assert "h_min_s=0.001 s" in r_hard.message and "step size" in r_hard.message
    assert r_hard.message.startswith(f"{scheme}-sn step size")
    assert np.isnan(r_hard.electrode_current_A[-1]).all()
    (alone,) = eng.run([calm], 0.1, g0=device._g_initial)
    assert np.abs(alone.electrode_current_A).max() > 0.0
    assert np.abs(alone.g_final - device._g_initial).max() > 0.0
    for r in (r_calm, r_calm2):
        assert r.ok
        np.testing.assert_array_equal(r.electrode_current_A, alone.electrode_current_A)
        np.testing.assert_array_equal(r.g_final, alone.g_final)


@pytest.mark.parametrize("method", ["sdirk2-sn", "esdirk3-sn"])
def test_compliance_stop_is_reported_alone(method: str) -> None:
    """apply_batch: a series that hits compliance is returned as its ComplianceError; the others
    equal their one-at-a-time runs."""
    spec = SimulatedDeviceSpec(device_kwargs=(("compliance_A", 5e-5), ("rtol", RTOL), ("atol", ATOL),
                                              ("method", method)))
    dev = spec()
    rng = np.random.default_rng(4)
    low = rng.uniform(-0.05, 0.05, (6, dev.n_inputs))
    high = np.full((6, dev.n_inputs), 2.0)
    out = dev.apply_batch([low, high, low], 0.1)
    assert isinstance(out[1], ComplianceError) and "compliance hit" in str(out[1])
    g_after, clock_after = dev.g, dev.clock_s  # the device ends as after the last series
    dev.reset()
    alone = dev.apply(low, 0.1)
    for m in (out[0], out[2]):
        np.testing.assert_array_equal(m.input_current_A, alone.input_current_A)
        np.testing.assert_array_equal(m.output_V, alone.output_V)
    np.testing.assert_array_equal(g_after, dev.g)
    assert clock_after == dev.clock_s == pytest.approx(0.6)
    # a stop in the last series leaves the sources at 0 V, as after a failed apply
    dev.reset()
    out = dev.apply_batch([low, high], 0.1)
    assert isinstance(out[1], ComplianceError)
    np.testing.assert_array_equal(dev.bias_V, 0.0)
    np.testing.assert_array_equal(dev.read().input_V, 0.0)


def test_a_series_that_reads_nan_is_reported_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """apply_batch: a series whose readings are not finite is returned as its InstrumentError (never
    as data); the others are returned as usual."""
    from hardware import InstrumentError

    dev = SimulatedDeviceSpec(device_kwargs=(("rtol", RTOL), ("atol", ATOL), ("method", "esdirk3-sn")))()
    assert dev._batched
    run_batch = dev._stepper.run_batch

    def one_nan(*args, **kwargs):
        res = run_batch(*args, **kwargs)
        res[0].electrode_current_A[1, 0] = np.nan
        return res

    monkeypatch.setattr(dev._stepper, "run_batch", one_nan)
    rng = np.random.default_rng(6)
    series = [rng.uniform(-0.5, 0.5, (4, dev.n_inputs)) for _ in range(2)]
    out = dev.apply_batch(series, 0.1)
    assert isinstance(out[0], InstrumentError) and "invalid reading nan" in str(out[0])
    assert np.isfinite(out[1].input_current_A).all()


def test_cuda_method_runs_the_torch_path_behind_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """method="esdirk3-cuda" (here with its torch device set to the CPU) drives the reservoir device
    through the engine's torch path, series of a batch together: every reading equals
    "esdirk3-sn"'s to within the integration tolerance, and a compliance stop is reported alone."""
    from nwphys.dynamics._held_methods import BatchedEsdirkCudaHeld

    monkeypatch.setattr(BatchedEsdirkCudaHeld, "torch_device", "cpu")
    kw = (("compliance_A", 5e-5), ("rtol", RTOL), ("atol", ATOL))
    ref = SimulatedDeviceSpec(device_kwargs=(*kw, ("method", "esdirk3-sn")))()
    dev = SimulatedDeviceSpec(device_kwargs=(*kw, ("method", "esdirk3-cuda")))()
    assert dev._stepper._impl.engine(None).backend == "torch"
    rng = np.random.default_rng(4)
    low = [rng.uniform(-0.05, 0.05, (n, dev.n_inputs)) for n in (5, 3)]
    series = [low[0], np.full((4, dev.n_inputs), 2.0), low[1]]
    out, want = dev.apply_batch(series, 0.1), ref.apply_batch(series, 0.1)
    assert isinstance(out[1], ComplianceError) and isinstance(want[1], ComplianceError)
    for m, r in ((out[0], want[0]), (out[2], want[2])):
        scale = np.abs(r.input_current_A).max()
        # rounding, or where a step decision falls the other way, the integration tolerance
        np.testing.assert_allclose(m.input_current_A, r.input_current_A, rtol=0, atol=1e-4 * scale)
        np.testing.assert_allclose(m.output_V, r.output_V, rtol=0, atol=1e-4 * np.abs(r.output_V).max())
    np.testing.assert_allclose(dev.g, ref.g, rtol=0, atol=1e-4)


def test_apply_batch_equals_serial_loop_for_other_methods() -> None:
    """With the one-series method, apply_batch is exactly reset + apply per series."""
    dev = SimulatedDeviceSpec(device_kwargs=(("compliance_A", 1e-3), ("rtol", RTOL), ("atol", ATOL)))()
    rng = np.random.default_rng(5)
    series = [rng.uniform(-1, 1, (n, dev.n_inputs)) for n in (3, 5)]
    out = dev.apply_batch(series, 0.1)
    for v, m in zip(series, out, strict=True):
        dev.reset()
        np.testing.assert_array_equal(dev.apply(v, 0.1).input_current_A, m.input_current_A)


def test_memory_bound_refuses_or_splits(device: SimulatedDevice) -> None:
    step = device._stepper
    drives = _drives(device, [4, 4, 4], 1.0, 6)
    small = BatchedEngine(
        device.circuit, device.model, driven=step.driven, rtol=RTOL, atol=ATOL, max_batch_bytes=10_000
    )
    with pytest.raises(BudgetError, match=r"max_batch_bytes=.*split it"):
        small.run(drives, 0.1, g0=device._g_initial)
    s = Stepper(device.circuit, device.model, driven=step.driven, g0=device._g_initial, rtol=RTOL,
                atol=ATOL, method="sdirk2-sn")
    whole = s.run_batch(drives, 0.1)
    eng = s._impl.engine(None)
    one = eng.estimate_bytes([4])
    eng.max_batch_bytes = one + 10  # one series per call
    split = s.run_batch(drives, 0.1)
    for a, b in zip(whole, split, strict=True):
        np.testing.assert_array_equal(a.electrode_current_A, b.electrode_current_A)
    assert eng.estimate_bytes([10**9]) > 10**10  # a billion samples is refused, not attempted
    with pytest.raises(ValidationError, match=r"n_samples\[1\] must be an integer in \[0, inf\)"):
        eng.estimate_bytes([4, -1])
    with pytest.raises(ValidationError, match="max_batch_bytes"):
        eng.max_batch_bytes = -5


def test_torch_batches_split_by_their_whole_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The torch path's memory is not additive over series (its tensors are padded to the longest
    series of a batch): run_batch splits by the estimate of each whole candidate batch, so that
    every batch it runs is within the bound, and the readings equal those of one unsplit batch."""
    from nwphys.dynamics._held_methods import BatchedEsdirkCudaHeld

    monkeypatch.setattr(BatchedEsdirkCudaHeld, "torch_device", "cpu")
    c = random_circuit(40, seed=2, n_electrodes=2)
    s = Stepper(c, make_junction_model("rate_balance"), driven=("in", "out"), rtol=1e-4, atol=1e-5,
                method="esdirk3-cuda")
    eng = s._impl.engine(None)
    assert eng.backend == "torch" and eng.torch_device == "cpu"
    sizes = [20, 1, 1, 1, 1]
    rng = np.random.default_rng(3)
    drives = [np.c_[rng.uniform(-2, 2, n), np.zeros(n)] for n in sizes]
    whole = s.run_batch(drives, 0.05)
    # padding-dominated memory, as for a long series among short ones on a large device: the
    # series one by one would sum to 24 kB, within the bound, but all five padded take 100 kB
    monkeypatch.setattr(eng, "estimate_bytes", lambda n, keep_states=False: len(n) * max(n, default=0) * 1000)
    eng.max_batch_bytes = 40_000  # [20, 1] fits; [20, 1, 1] takes 60 kB
    ran: list[list[int]] = []
    run = eng.run

    def spy(d: list[np.ndarray], *a: object, **k: object) -> list[object]:
        ran.append([x.shape[0] for x in d])
        assert eng.estimate_bytes(ran[-1]) <= eng.max_batch_bytes
        return run(d, *a, **k)

    monkeypatch.setattr(eng, "run", spy)
    split = s.run_batch(drives, 0.05)
    assert ran == [[20, 1], [1, 1, 1]]
    for a, b in zip(whole, split, strict=True):
        assert a.ok and b.ok
        np.testing.assert_allclose(b.electrode_current_A, a.electrode_current_A, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------- registry and inputs
def test_unknown_method_names_the_registered_ones() -> None:
    c = Circuit(n_nodes=2, edges=np.array([[0, 1]]), electrode_node=[0, 1], electrode_names=("in", "out"))
    listed = ", ".join(METHODS)
    with pytest.raises(ValidationError, match="registered integration methods") as e1:
        Stepper(c, "rate_balance", driven=("in", "out"), method="rk4")
    with pytest.raises(ValidationError) as e2:
        simulate(c, {"in": 1.0, "out": 0.0}, duration_s=0.1, dt_s=0.01, method="rk4")
    for e in (e1, e2):
        msg = str(e.value)
        assert "\n" not in msg and listed in msg and "'rk4'" in msg
    with pytest.raises(ValidationError, match="held samples only"):
        simulate(c, {"in": 1.0, "out": 0.0}, duration_s=0.1, dt_s=0.01, method="sdirk2-sn")
    with pytest.raises(ValidationError, match="does not integrate held samples"):
        Stepper(c, "rate_balance", driven=("in", "out"), method="LSODA")
    assert all(get_method(n).batched for n in ("sdirk2-sn", "esdirk3-sn", "esdirk3-cuda"))
    assert not get_method("sdirk2").batched
    with pytest.raises(ValidationError, match="needs a batched method"):
        Stepper(c, "rate_balance", driven=("in", "out")).run_batch([np.zeros((2, 2))], 0.1)


def test_engine_refuses_other_models_and_bad_inputs(device: SimulatedDevice) -> None:
    c = Circuit(n_nodes=2, edges=np.array([[0, 1]]), electrode_node=[0, 1], electrode_names=("in", "out"))
    with pytest.raises(ValidationError, match=r"rate_balance.*method=.sdirk2."):
        BatchedEngine(c, make_junction_model("filament_gap"), driven=("in", "out"), rtol=1e-3, atol=1e-4)
    eng = BatchedEngine(c, make_junction_model("rate_balance"), driven=("in", "out"), rtol=1e-3, atol=1e-4)
    with pytest.raises(ValidationError, match=r"driven_V\[0\] must have shape \(n_samples >= 1, 2\)"):
        eng.run([np.zeros((3, 3))], 0.1, g0=np.array([0.1]))
    with pytest.raises(ValidationError, match=r"g0 must lie in \[0, 1\]"):
        eng.run([np.zeros((3, 2))], 0.1, g0=np.array([1.5]))
    with pytest.raises(ValidationError, match="dt_s"):
        eng.run([np.zeros((3, 2))], -0.1, g0=np.array([0.1]))
    ragged = [np.zeros((3, 2)), np.zeros((2, 2))]
    with pytest.raises(ValidationError, match=r"dt_s\[1\] must be > 0 s"):
        eng.run(ragged, [np.full(3, 0.1), np.array([0.1, 0.0])], g0=np.array([0.1]))
    with pytest.raises(ValidationError, match=r"dt_s\[0\] must have 1 dimension"):
        eng.run(ragged[:1], [np.full((3, 1), 0.1)], g0=np.array([0.1]))
    with pytest.raises(ValidationError, match=r"record\[0\] must be a 1-D array of bool, got dtype float64"):
        eng.run(ragged[:1], 0.1, g0=np.array([0.1]), record=[np.array([1.0, np.nan, 0.0])])
    with pytest.raises(ValidationError, match="t0_s must be a finite real number"):
        eng.run(ragged[:1], 0.1, g0=np.array([0.1]), t0_s=np.nan)
    # per-sample hold times for series of different lengths: equal to the shared hold time
    by_sample = eng.run(ragged, [np.full(3, 0.1), np.full(2, 0.1)], g0=np.array([0.1]))
    shared = eng.run(ragged, 0.1, g0=np.array([0.1]))
    for a, b in zip(by_sample, shared, strict=True):
        np.testing.assert_array_equal(a.g_final, b.g_final)
    assert eng.run([], 0.1) == []
    with pytest.raises(ValidationError, match="refactor_ratio"):
        BatchedEngine(c, make_junction_model("rate_balance"), driven=("in", "out"), rtol=1e-3, atol=1e-4,
                      refactor_ratio=1.5)
    with pytest.raises(ValidationError, match=r"scheme must be one of 'sdirk2', 'esdirk3', got 'rk4'"):
        BatchedEngine(c, make_junction_model("rate_balance"), driven=("in", "out"), rtol=1e-3, atol=1e-4,
                      scheme="rk4")
    with pytest.raises(ValidationError, match=r"torch_device must be a torch device.*got 'gpu'"):
        BatchedEngine(c, make_junction_model("rate_balance"), driven=("in", "out"), rtol=1e-3, atol=1e-4,
                      backend="torch", torch_device="gpu")


def test_a_cuda_path_without_cuda_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The torch path on a CUDA device, as the engine's backend or as method "esdirk3-cuda", is
    refused before anything runs where torch finds no CUDA device, naming the CPU alternative."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    c = random_circuit(20, seed=1, n_electrodes=2)
    m = make_junction_model("rate_balance")
    with pytest.raises(ValidationError, match=r"finds no CUDA device.*backend='numba'") as e1:
        BatchedEngine(c, m, driven=("in", "out"), rtol=1e-3, atol=1e-4, backend="torch", torch_device="cuda")
    with pytest.raises(ValidationError, match=r"finds no CUDA device.*method 'esdirk3-sn'") as e2:
        Stepper(c, m, driven=("in", "out"), rtol=1e-3, atol=1e-4, method="esdirk3-cuda")
    assert "\n" not in str(e1.value) + str(e2.value)


@pytest.mark.parametrize("scheme", ["sdirk2", "esdirk3"])
@pytest.mark.parametrize("series_resistance_ohm", [0.0, 82.0])
def test_torch_path_equals_the_compiled_kernel(series_resistance_ohm: float, scheme: str) -> None:
    """The torch path (float64, CPU) takes the same steps as the compiled kernel and reads the
    same values to rounding, for ragged series in one batch, with Dirichlet or series-resistance
    sources and a floating electrode, and with one series that fails, under either scheme (ESDIRK3:
    its read solves, first-step tangents and first-same-as-last rates as well)."""
    c = random_circuit(60, seed=1, n_electrodes=3, series_resistance_ohm=series_resistance_ohm)
    m = make_junction_model("rate_balance")
    kw = dict(driven=("in", "out"), rtol=1e-4, atol=1e-5, probe_nodes=[0, 5, 9], scheme=scheme)
    a = BatchedEngine(c, m, **kw)
    b = BatchedEngine(c, m, backend="torch", **kw)
    rng = np.random.default_rng(7)
    drives = [np.c_[rng.uniform(-3, 3, n), np.zeros(n)] for n in (6, 2, 9)]
    ra = a.run(drives, 0.05, keep_states=True)
    rb = b.run(drives, 0.05, keep_states=True)
    for x, y in zip(ra, rb, strict=True):
        assert x.ok and y.ok
        assert x.stats == y.stats  # the same step, Newton and factorisation decisions
        for u, v in ((x.electrode_current_A, y.electrode_current_A), (x.node_voltage_V, y.node_voltage_V),
                     (x.g, y.g)):
            np.testing.assert_allclose(v, u, rtol=1e-9, atol=1e-12 * np.abs(u).max())
        assert (x.g_min, x.g_max) == pytest.approx((y.g_min, y.g_max), rel=1e-12)
        assert max(x.kcl_max, y.kcl_max) <= 1e-10
    calm = np.c_[[0.2, -0.1, 0.3], np.zeros(3)]
    fa = BatchedEngine(c, m, h_min_s=1e-3, **kw).run([drives[0], calm, drives[1]], 0.05)
    fb = BatchedEngine(c, m, h_min_s=1e-3, backend="torch", **kw).run([drives[0], calm, drives[1]], 0.05)
    assert [r.ok for r in fa] == [r.ok for r in fb] == [False, True, False]
    assert [r.message for r in fa] == [r.message for r in fb]
    # the survivor between two failures reads as when run alone, in either path
    (alone,) = BatchedEngine(c, m, h_min_s=1e-3, **kw).run([calm], 0.05)
    np.testing.assert_array_equal(fa[1].electrode_current_A, alone.electrode_current_A)
    np.testing.assert_allclose(fb[1].electrode_current_A, alone.electrode_current_A, rtol=1e-9,
                               atol=1e-12 * np.abs(alone.electrode_current_A).max())
    np.testing.assert_allclose(fb[1].g_final, alone.g_final, rtol=1e-9, atol=1e-12)
    assert BatchedEngine(c, m, backend="torch", **kw).run([], 0.05) == []


def test_torch_path_takes_record_masks_hold_times_and_states_per_series() -> None:
    """The torch path equals the compiled kernel (same decisions, values to rounding) with
    per-sample hold times, record masks and one initial state per series, for ragged series."""
    c = random_circuit(60, seed=1, n_electrodes=2)
    m = make_junction_model("rate_balance")
    kw = dict(driven=("in", "out"), rtol=1e-4, atol=1e-5, scheme="esdirk3")
    rng = np.random.default_rng(11)
    lengths = (7, 3, 5)
    drives = [np.c_[rng.uniform(-2.5, 2.5, n), np.zeros(n)] for n in lengths]
    dts = [rng.uniform(0.01, 0.1, n) for n in lengths]
    recs = [rng.random(n) < 0.6 for n in lengths]
    recs[1][:] = False  # a series that records nothing
    g0 = rng.uniform(0.0, 0.3, (len(lengths), c.n_junctions))
    ra = BatchedEngine(c, m, **kw).run(drives, dts, g0=g0, record=recs, keep_states=True)
    rb = BatchedEngine(c, m, backend="torch", **kw).run(drives, dts, g0=g0, record=recs, keep_states=True)
    for x, y, r in zip(ra, rb, recs, strict=True):
        assert x.ok and y.ok and x.stats == y.stats
        assert x.electrode_current_A.shape[0] == y.electrode_current_A.shape[0] == r.sum()
        scale = max(np.abs(x.electrode_current_A).max(initial=0.0), 1e-300)
        np.testing.assert_allclose(y.electrode_current_A, x.electrode_current_A, rtol=1e-9,
                                   atol=1e-12 * scale)
        np.testing.assert_allclose(y.g, x.g, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(y.g_final, x.g_final, rtol=1e-9, atol=1e-12)
    # the same series alone, with its own state, gives the same readings: the states are per series
    (alone,) = BatchedEngine(c, m, **kw).run(drives[2:], dts[2:], g0=g0[2], record=recs[2:])
    np.testing.assert_array_equal(alone.electrode_current_A, ra[2].electrode_current_A)


@pytest.mark.parametrize("scheme", ["sdirk2", "esdirk3"])
def test_sources_returning_to_zero_volts(scheme: str) -> None:
    """Held samples with every source at 0 V after nonzero ones (a pulse and its rest, a relaxation
    at 0 V) integrate like the one-series path, in the compiled kernel and the torch path with equal
    decisions: the voltages there are exactly 0, not a rounding residue whose relative Kirchhoff
    residual cannot fall."""
    c = random_circuit(60, seed=1, n_electrodes=2)
    m = make_junction_model("rate_balance")
    drive = np.c_[[0.5, 2.0, 0.0, 0.0, 1.5, 0.0, 0.5], np.zeros(7)]
    kw = dict(driven=("in", "out"), rtol=1e-5, atol=1e-7)
    (a,) = BatchedEngine(c, m, scheme=scheme, **kw).run([drive], 0.05)
    ref = Stepper(c, m, **kw).run(drive, 0.05)
    assert a.ok
    scale = np.abs(ref.electrode_current_A).max()
    np.testing.assert_allclose(a.electrode_current_A, ref.electrode_current_A, rtol=0, atol=1e-4 * scale)
    (b,) = BatchedEngine(c, m, scheme=scheme, backend="torch", **kw).run([drive], 0.05)
    assert b.ok and a.stats == b.stats
    np.testing.assert_allclose(b.electrode_current_A, a.electrode_current_A, rtol=1e-9, atol=1e-12 * scale)
    assert np.all(a.electrode_current_A[[2, 3, 5]] == 0.0) and np.all(b.electrode_current_A[[2, 3, 5]] == 0.0)
