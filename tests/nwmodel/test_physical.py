"""The physical reservoir: mapping, input encoding, estimator mechanics, end to end."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from hardware.device import Device, ElectrodeChannel, Readings
from nwmodel.errors import ModelValidationError
from nwmodel.physical.mapping import (
    DEFAULT_ENCODING,
    NWESN_JUNCTION_PARAMS,
    RESCALE_WINDOW_V,
    abstract_to_physical,
    encode_inputs,
    sigmoid,
    voltage_window,
)
from nwmodel.physical.reservoir import (
    PhysicalReservoirClassifier,
    PhysicalReservoirRegressor,
    SimulatedDeviceSpec,
)

# --------------------------------------------------------------------------- a fake device (tests only)


class LeakyDevice(Device):
    """Linear leaky integrator behind the Device API: s <- a s + B v; outputs read s.

    Hand-solvable, so the estimator's encoding, reset policy and feature extraction can be checked
    against a direct computation.
    """

    def __init__(self, n_inputs: int = 2, n_outputs: int = 3, a: float = 0.9, seed: int = 0) -> None:
        els = [ElectrodeChannel(f"in{i}", "input") for i in range(n_inputs)]
        els += [ElectrodeChannel(f"out{i}", "output") for i in range(n_outputs)]
        super().__init__(els)
        self.a = a
        self.B = np.random.default_rng(seed).uniform(-1, 1, size=(n_outputs, n_inputs))
        self.s = np.zeros(n_outputs)
        self.n_resets = 0

    def _apply(self, voltages_V: np.ndarray, dt_s: float) -> Readings:
        out = np.empty((voltages_V.shape[0], self.s.size))
        for k, v in enumerate(voltages_V):
            out[k] = self.s
            self.s = self.a * self.s + self.B @ v
        z = np.zeros_like(voltages_V)
        return Readings(voltages_V, out, z, np.zeros((voltages_V.shape[0], 0)))

    def _read(self) -> Readings:
        n_in = len(self.input_names)
        return Readings(np.zeros((1, n_in)), self.s[None].copy(), np.zeros((1, n_in)), np.zeros((1, 0)))

    def _reset(self) -> None:
        self.s = np.zeros_like(self.s)
        self.n_resets += 1

    def _safe_state(self) -> None:
        pass


def leaky_factory() -> LeakyDevice:
    """Module-level (picklable) factory for the process-pool test."""
    return LeakyDevice()


def _easy_task(seed: int, n_per_class: int = 30, length: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Two classes: a rising vs a falling ramp plus noise (separable by a leaky integrator)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(-1.0, 1.0, length)
    X = np.concatenate(
        [
            t + 0.3 * rng.standard_normal((n_per_class, length)),
            -t + 0.3 * rng.standard_normal((n_per_class, length)),
        ]
    )[:, None, :]
    y = np.repeat([0, 1], n_per_class)
    perm = rng.permutation(y.size)
    return X[perm], y[perm]


# --------------------------------------------------------------------------- mapping


def test_rescale_window_is_the_abstract_one() -> None:
    assert voltage_window(DEFAULT_ENCODING["v_bias_V"], DEFAULT_ENCODING["v_scale_V"]) == pytest.approx(
        RESCALE_WINDOW_V, abs=1e-15
    )


def test_encode_inputs_matches_hand_formula(rng: np.random.Generator) -> None:
    x = rng.standard_normal((2, 7))
    w = rng.uniform(-1, 1, (3, 2))
    b = rng.uniform(-0.1, 0.1, 3)
    v = encode_inputs(x, w, b, slope=2.0, v_bias_V=0.35, v_scale_V=0.8)
    expected = 0.35 + 0.8 / (1.0 + np.exp(-2.0 * (w @ x + b[:, None])))
    np.testing.assert_allclose(v, expected.T, rtol=1e-14)
    assert np.all((v > 0.35) & (v < 1.15))


def test_sigmoid_is_stable_for_large_arguments() -> None:
    a = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    s = sigmoid(a)
    assert np.all(np.isfinite(s))
    expected = [0.0, 1 / (1 + np.exp(30.0)), 0.5, 1 / (1 + np.exp(-30.0)), 1.0]
    np.testing.assert_allclose(s, expected, rtol=1e-14)


def test_abstract_to_physical_maps_and_reports_dropped() -> None:
    m = abstract_to_physical(
        {"omega": 10, "beta": 0.1, "s": 5, "dt": 0.01, "N": 100, "gamma": 0.95, "rho": 0.9, "Kd0": 0.25}
    )
    assert m["estimator"] == {
        "v_bias_V": 0.35,
        "v_scale_V": 0.8,
        "input_scaling": 10,
        "bias_scaling": 0.1,
        "slope": 5,
        "dt_s": 0.01,
        "n_features": 100,
    }
    assert m["junction_params"]["kd0_per_s"] == 0.25
    assert m["junction_params"]["kp0_per_s"] == NWESN_JUNCTION_PARAMS["kp0_per_s"]
    assert set(m["dropped"]) == {"gamma", "rho"}
    assert "kd0" in m["dropped"]["gamma"]
    # the abstract estimator's keywords map the same way
    m2 = abstract_to_physical({"input_scaling": 10, "spectral_radius": 0.9, "backend": "numpy"})
    assert m2["estimator"]["input_scaling"] == 10 and set(m2["dropped"]) == {"spectral_radius"}


def test_abstract_to_physical_rejects_unknown_keys() -> None:
    with pytest.raises(ModelValidationError, match="unknown abstract NW-ESN keys \\['bogus'\\]"):
        abstract_to_physical({"bogus": 1})


# --------------------------------------------------------------------------- estimator mechanics (fake)


def test_features_equal_hand_computation_on_leaky_device() -> None:
    X, y = _easy_task(0, n_per_class=5, length=6)
    dev = LeakyDevice()
    est = PhysicalReservoirClassifier(
        dev, calibration="off", features="last", n_features=None, standardize=False, random_state=3
    ).fit(X, y)
    enc = est.encoding_
    # hand: state before the last step of the sequence driven by the encoded voltages
    F = []
    for x in X:
        v = 0.35 + 0.8 * sigmoid(enc.slope * (enc.w_in @ x + enc.bias[:, None])).T
        s = np.zeros(3)
        for k in range(v.shape[0] - 1):
            s = dev.a * s + dev.B @ v[k]
        F.append(np.r_[s, 0.0, 0.0])  # outputs, then the (zero) input currents of the fake device
    np.testing.assert_allclose(est.transform(X), np.array(F), rtol=1e-12, atol=1e-14)
    # reset="restore" resets once per series (fit + transform)
    assert dev.n_resets == 2 * X.shape[0]
    assert dev.n_apply == 2 * X.shape[0]


def test_reset_none_carries_state_and_relax_applies_zeros() -> None:
    X, y = _easy_task(1, n_per_class=3, length=5)
    a = PhysicalReservoirClassifier(
        LeakyDevice(), calibration="off",
        features="last", n_features=None, reset="restore", standardize=False, random_state=0
    ).fit(X, y)
    b = PhysicalReservoirClassifier(
        LeakyDevice(), calibration="off",
        features="last", n_features=None, reset="none", standardize=False, random_state=0
    ).fit(X, y)
    Fa, Fb = a.transform(X), b.transform(X)
    assert not np.allclose(Fa, Fb)  # carried state changes the features
    dev = LeakyDevice(a=0.5)
    c = PhysicalReservoirClassifier(
        dev,
        calibration="off",
        features="last",
        n_features=None,
        reset="relax",
        relax_s=3.0,
        dt_s=0.1,
        standardize=False,
        random_state=0,
    ).fit(X, y)
    # 30 relax steps at 0 V shrink a carried state by 0.5**30: equal to a fresh start to ~1e-9
    np.testing.assert_allclose(
        c.transform(X),
        PhysicalReservoirClassifier(
            LeakyDevice(a=0.5), calibration="off",
            features="last", n_features=None, standardize=False, random_state=0
        )
        .fit(X, y)
        .transform(X),
        rtol=0,
        atol=1e-7,
    )
    assert dev.n_steps_total == 2 * X.shape[0] * (30 + X.shape[2])


def test_virtual_nodes_equal_hand_computation_on_leaky_device() -> None:
    """Sub-step k of sample t drives mask[k] * (W_in x_t); the features are the readings at the
    end of each of the last n_virtual sub-steps."""
    X, y = _easy_task(2, n_per_class=3, length=4)
    dev = LeakyDevice()
    n_v = 4
    est = PhysicalReservoirClassifier(
        dev, calibration="off",
        features="last", n_features=None, n_virtual=n_v, standardize=False, random_state=0
    ).fit(X, y)
    enc = est.encoding_
    F = []
    for x in X:
        rows = [
            0.35 + 0.8 * sigmoid(enc.slope * (enc.mask[k] * (enc.w_in @ x[:, t]) + enc.bias))
            for t in range(x.shape[1])
            for k in range(n_v)
        ]
        s, read = np.zeros(3), []
        for v in rows:
            read.append(np.r_[s, 0.0, 0.0])  # outputs before the step, then the input currents
            s = dev.a * s + dev.B @ v
        F.append(np.concatenate(read[-n_v:]))
    np.testing.assert_allclose(est.transform(X), np.array(F), rtol=1e-12, atol=1e-14)
    assert dev.n_steps_total == 2 * X.shape[0] * n_v * X.shape[2]
    assert np.all(np.abs(enc.mask) <= 1.0) and np.unique(enc.mask).size == enc.mask.size


def test_random_streams_are_independent_children_of_random_state() -> None:
    """Weights, bias, mask and feature subset draw from rng.spawn(4) of random_state, in that order:
    n_virtual and n_features change only their own draws."""
    X, y = _easy_task(2, n_per_class=3, length=4)
    seed = 7
    one = PhysicalReservoirClassifier(
        LeakyDevice(n_outputs=6), calibration="off", features="last", n_features=None, random_state=seed
    ).fit(X, y)
    four = PhysicalReservoirClassifier(
        LeakyDevice(n_outputs=6), calibration="off",
        features="last", n_features=20, n_virtual=4, random_state=seed
    ).fit(X, y)
    w_rng, b_rng, m_rng, f_rng = np.random.default_rng(seed).spawn(4)
    scale = DEFAULT_ENCODING["input_scaling"]
    w_in = w_rng.uniform(-scale, scale, size=(2, 1))
    bias = b_rng.uniform(-DEFAULT_ENCODING["bias_scaling"], DEFAULT_ENCODING["bias_scaling"], size=2)
    for est in (one, four):
        np.testing.assert_array_equal(est.encoding_.w_in, w_in)
        np.testing.assert_array_equal(est.encoding_.bias, bias)
    np.testing.assert_array_equal(one.encoding_.mask, np.ones((1, 2)))
    np.testing.assert_array_equal(four.encoding_.mask, m_rng.uniform(-1.0, 1.0, size=(4, 2)))
    np.testing.assert_array_equal(four.feature_index_, np.sort(f_rng.choice(4 * 8, size=20, replace=False)))


def test_feature_subset_is_seeded_and_too_many_raises() -> None:
    X, y = _easy_task(3, n_per_class=3, length=4)
    e1 = PhysicalReservoirClassifier(
        LeakyDevice(n_outputs=6), calibration="off", features="last", n_features=4, random_state=5
    ).fit(X, y)
    e2 = PhysicalReservoirClassifier(
        LeakyDevice(n_outputs=6), calibration="off", features="last", n_features=4, random_state=5
    ).fit(X, y)
    np.testing.assert_array_equal(e1.feature_index_, e2.feature_index_)
    np.testing.assert_array_equal(e1.transform(X), e2.transform(X))
    # the subset is those columns of the full readout (6 output voltages, 2 input currents)
    kw = {"calibration": "off", "features": "last", "standardize": False, "random_state": 5}
    part = PhysicalReservoirClassifier(LeakyDevice(n_outputs=6), n_features=4, **kw).fit(X, y)
    full = PhysicalReservoirClassifier(LeakyDevice(n_outputs=6), n_features=None, **kw).fit(X, y)
    assert part.feature_index_.size == 4 and np.all(np.diff(part.feature_index_) > 0)
    np.testing.assert_array_equal(part.transform(X), full.transform(X)[:, part.feature_index_])
    with pytest.raises(ModelValidationError, match=r"n_features must be <= 5 \(the readout features"):
        PhysicalReservoirClassifier(LeakyDevice(), calibration="off",
        features="last", n_features=100).fit(X, y)


def test_clone_get_params_and_reproducibility() -> None:
    X, y = _easy_task(4, n_per_class=4, length=5)
    est = PhysicalReservoirClassifier(
        leaky_factory, calibration="off", features="last", n_features=None, v_scale_V=2.0, random_state=1
    )
    c = clone(est)
    assert c.get_params()["v_scale_V"] == 2.0 and c.get_params()["device"] is leaky_factory
    f1 = c.fit(X, y).transform(X)
    f2 = clone(est).fit(X, y).transform(X)
    f3 = clone(est).set_params(random_state=2).fit(X, y).transform(X)
    np.testing.assert_array_equal(f1, f2)
    assert not np.allclose(f1, f3)
    assert not hasattr(est, "encoding_")  # fit on clones never touched the template


def test_fit_transform_returns_the_training_states_without_driving_again() -> None:
    X, y = _easy_task(5, n_per_class=4, length=5)
    dev = LeakyDevice()
    est = PhysicalReservoirClassifier(dev, calibration="off", features="last", random_state=0)
    F = est.fit_transform(X, y)
    assert dev.n_apply == X.shape[0]  # each training series driven once
    np.testing.assert_allclose(F, est.transform(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(
        est.predict(X),
        PhysicalReservoirClassifier(LeakyDevice(), calibration="off",
        features="last", random_state=0).fit(X, y).predict(X),
    )


def test_parallel_chunks_equal_serial() -> None:
    X, y = _easy_task(5, n_per_class=6, length=5)
    serial = PhysicalReservoirClassifier(
        leaky_factory, calibration="off", features="last", n_features=None, random_state=0
    ).fit(X, y)
    par = PhysicalReservoirClassifier(
        leaky_factory, calibration="off", features="last", n_features=None, n_jobs=2, random_state=0
    ).fit(X, y)
    np.testing.assert_array_equal(serial.transform(X), par.transform(X))
    np.testing.assert_array_equal(serial.predict(X), par.predict(X))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"v_scale_V": 0.0}, r"'v_scale_V' parameter .* a float in the range \(0\.0, inf\)\. Got 0\.0 "),
        ({"dt_s": -1.0}, r"'dt_s' parameter .* \(0\.0, inf\)\. Got -1\.0 "),
        ({"n_virtual": 0}, r"'n_virtual' parameter .* an int in the range \[1, inf\)\. Got 0 "),
        ({"reset": "reboot"}, r"'reset' parameter .* among \{'restore', 'relax', 'none'\}\. Got 'reboot' "),
        (
            {"readout": "currents"},
            r"'readout' parameter .* among \{'electrodes', 'oracle', 'conductances'\}\. Got 'currents' ",
        ),
        (
            {"calibration": "guess"},
            r"'calibration' parameter .* among \{'auto', 'junction', 'response', 'off'\} or an "
            r"instance of .*DriveCalibration'\. Got 'guess' ",
        ),
        ({"n_jobs": 2, "reset": "none"}, "n_jobs > 1 needs reset='restore'"),
        ({"readout": "conductances", "features": "last"}, "readout='conductances' is simulation-only"),
        ({"readout": "oracle"}, "readout='oracle' is simulation-only"),
    ],
)
def test_bad_parameters_raise_naming_them(kwargs: dict, match: str) -> None:
    X, y = _easy_task(6, n_per_class=2, length=3)
    with pytest.raises(ModelValidationError, match=match):
        kw = {"calibration": "off", "n_features": None, **kwargs}
        PhysicalReservoirClassifier(leaky_factory, **kw).fit(X, y)


def test_bad_device_and_input_raise() -> None:
    X, y = _easy_task(7, n_per_class=2, length=3)
    with pytest.raises(
        ModelValidationError,
        match=r"'device' parameter .* must be a hardware\.Device or a zero-argument factory .*Got 'dev\.h5' ",
    ):
        PhysicalReservoirClassifier("dev.h5", calibration="off").fit(X, y)
    est = PhysicalReservoirClassifier(LeakyDevice(), calibration="off",
    features="last", n_features=None).fit(X, y)
    with pytest.raises(ModelValidationError, match="X must have 1 channel"):
        est.transform(np.zeros((2, 2, 3)))
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ModelValidationError, match="X must be finite"):
        est.transform(bad)


def test_regressor_fits_a_linear_target_on_leaky_device() -> None:
    rng = np.random.default_rng(8)
    X = rng.uniform(-1, 1, (60, 1, 8))
    # the read state is sum_k a^k B v[T-2-k]; with a gentle slope v is nearly linear in x
    y = sum(0.5**k * X[:, 0, -2 - k] for k in range(7))
    est = PhysicalReservoirRegressor(
        LeakyDevice(n_outputs=6, a=0.5),
        calibration="off",
        features="last",
        n_features=None,
        slope=0.1,
        ridge_alpha=1e-6,
        random_state=0,
    ).fit(X, y)
    assert np.sqrt(np.mean((est.predict(X) - y) ** 2)) < 0.05 * np.std(y)


# --------------------------------------------------------------------------- simulated device (nwphys)


def _small_spec(**kw) -> SimulatedDeviceSpec:
    return SimulatedDeviceSpec(
        n_wires=200,
        size_um=(40.0, 40.0),
        electrodes="mea2x3",
        role_pattern="first-last",
        n_inputs=2,
        device_seed=3,
        **kw,
    )


def test_spec_roles_and_probe_nodes() -> None:
    spec = _small_spec(n_probe=27)
    inputs, outputs, ground, probe = spec.roles()
    assert inputs == ["E00", "E01"] and ground == ["E12"] and outputs == ["E02", "E10", "E11"]
    assert len(probe) == 27 and len(set(probe)) == 27
    c = spec.network().circuit()
    assert not set(probe) & set(np.asarray(c.electrode_node).tolist())
    assert spec.roles() == (inputs, outputs, ground, probe)  # seeded
    with pytest.raises(ModelValidationError, match="n_probe must be <="):
        _small_spec(n_probe=10_000).roles()


@pytest.mark.slow
def test_physical_reservoir_end_to_end_above_chance() -> None:
    X, y = _easy_task(10, n_per_class=20, length=15)
    Xte, yte = _easy_task(11, n_per_class=20, length=15)
    est = PhysicalReservoirClassifier(_small_spec(), n_virtual=2, dt_s=0.1, features="last", random_state=0)
    est.fit(X, y)
    acc = est.score(Xte, yte)
    assert acc >= 0.8, acc  # chance is 0.5
    # 3 output voltages + 2 input currents + 1 ground current, x 2 virtual nodes
    assert est.transform(Xte).shape == (40, 12)
    assert est.calibration_.rule == "junction"
    lo, hi = est.electrode_window_V_
    gain = est.calibration_.gain
    assert lo == pytest.approx(0.35 / gain) and hi == pytest.approx(1.15 / gain)


def test_conductance_features_on_simulated_device() -> None:
    X, y = _easy_task(13, n_per_class=3, length=6)
    spec = _small_spec()
    est = PhysicalReservoirClassifier(
        spec, readout="conductances", features="last", standardize=False, random_state=0
    )
    est.fit(X, y)
    g = est.transform(X)
    assert g.shape[1] == spec.network().n_junctions
    assert np.all((g >= 0) & (g <= 1)) and g.max() > 1e-3  # the calibrated drive moves junctions
    # by hand: the oracle's junction states after driving the last series from the restored state
    dev = spec()
    try:
        dev.reset()
        dev.apply(est.encoding_.voltages_V(X[-1]), est.encoding_.dt_s)
        np.testing.assert_array_equal(g[-1], dev.oracle().state)
    finally:
        dev.close()
    assert not np.array_equal(g[0], g[-1])  # different series leave different states


class _OpenedDevices:
    """Factory of ``spec()`` devices that keeps each device it opened, to count and check them."""

    def __init__(self, spec: SimulatedDeviceSpec) -> None:
        self.spec = spec
        self.opened: list = []

    def __call__(self):
        self.opened.append(self.spec())
        return self.opened[-1]


def test_a_fit_opens_its_factory_once_and_a_given_calibration_changes_no_feature() -> None:
    X, y = _easy_task(14, n_per_class=3, length=6)
    measuring = _OpenedDevices(_small_spec())
    est = PhysicalReservoirClassifier(measuring, features="all", random_state=0)
    F = est.fit_transform(X, y)
    # the calibration's sweeps drove the first device: the series ran on a second, fresh one
    assert len(measuring.opened) == 2
    given = _OpenedDevices(_small_spec())
    F_given = PhysicalReservoirClassifier(
        given, features="all", calibration=est.calibration_, random_state=0
    ).fit_transform(X, y)
    assert len(given.opened) == 1  # prepared (names, sizes) and driven on one device
    np.testing.assert_array_equal(F_given, F)
    assert all(d.closed for d in measuring.opened + given.opened)
    # a fit of several readouts that stops before the drive leaves no device open
    from nwmodel.models.readout import fit_readouts

    failing = _OpenedDevices(_small_spec())
    ests = [
        PhysicalReservoirClassifier(failing, features=f, calibration=est.calibration_, random_state=0)
        for f in ("last", 99)
    ]
    with pytest.raises(ModelValidationError, match=r"<= the series length 6, got 99"):
        fit_readouts(ests, X, y)
    assert len(failing.opened) == 1 and failing.opened[0].closed
