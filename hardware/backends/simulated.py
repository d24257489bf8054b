"""In-process simulated device: an :mod:`nwphys` network behind the :class:`~hardware.Device` API.

This is the backend of :mod:`hardware` that runs the :mod:`nwphys` physics (a
:class:`nwphys.dynamics.stepper.Stepper` over the network's circuit).

Model of the measurement
------------------------
* Input and ground electrodes are ideal voltage sources (through the network's own series
  resistance); output electrodes float and their voltage is read; other electrodes float unread.
* Per step ``k`` the (settled) input voltages are held over ``dt_s`` while the junctions evolve;
  the readings of step ``k`` are taken at the **end of the hold** (as a source-measure unit reads
  at the end of its aperture), see :mod:`nwphys.dynamics.stepper`. The junction dynamics use the
  error-controlled stiff integrator ``"sdirk2"`` by default (``method``, ``rtol``, ``atol``);
  ``method="exact"`` selects the frozen-voltage stepper with its switching-time guard.
* Source settling (``settling_tau_s > 0``): the applied voltage follows the command as a first-order
  lag sampled once per step, ``v_k = v_{k-1} + (1 - exp(-dt_s / tau)) (c_k - v_{k-1})``; the applied
  voltages are returned in ``Measurement.input_V``.
* Read noise (``read_noise_V``): independent Gaussian noise of that standard deviation on every
  output-voltage reading, drawn from the device's own generator (seeded by ``seed``).
* Current read noise (``read_noise_A``): independent Gaussian noise of that standard deviation on
  every current reading (input and ground electrodes), drawn from the same generator after the
  voltage noise of the same readings, and only when ``read_noise_A > 0`` (currents are noise free
  by default, and the stream of the voltage noise is then the same as without this option).
* Stochastic junctions (a junction model with ``stochastic`` True, e.g. ``"rate_balance_ou"``,
  preset ``"milano2025"``): every held sample is cut into ``noise_substeps`` equal sub-steps; each
  integrates the drift (``model.drift_model()`` with ``method``) and then adds the
  Ornstein-Uhlenbeck and jump noise with the relaxation rates at the junction voltages at its end,
  reflected into [0, 1] (the split step of :mod:`nwphys.dynamics.stochastic`). The reading of
  the sample is taken after its last noise step. The junction noise has a generator of its own,
  a child stream of ``seed`` (:meth:`numpy.random.Generator.spawn`, which leaves the read-noise
  stream unchanged); a deterministic junction model ignores ``noise_substeps``.
* Device-to-device variability (``junction_spread > 0``): the junctions are not identical. The
  model is built with :func:`nwphys.junctions.make_junction_model` and ``spread=junction_spread``:
  each parameter group of the model's ``spread_groups`` (for the rate balance ``kp0``, ``kd0``,
  ``eta_p``, ``eta_d`` and the pair ``G_min``, ``G_max``) is multiplied, per junction, by
  ``exp(junction_spread * z)`` with ``z ~ N(0, 1)`` (median = the network's value); the noise
  parameters of a stochastic model stay as given, and its drift carries the scattered kinetics.
  The draw comes from a child stream of ``seed`` of its own: the device spawns two children,
  the first for the junction noise (the same stream as without variability) and the second for
  the variability, so the read noise and the junction noise are unchanged by this option, and one
  ``seed`` gives the same junctions with a deterministic and with a stochastic model of the same
  parameters. ``seed`` is then required (an integer or a Generator): the junctions of a device
  are always reproducible. The junction state at construction (and after a ``"restore"`` reset)
  stays the network's stored state; the scattered junctions relax from it towards their own
  resting states.
* ADC resolution (``adc_bits``): output voltages are rounded to ``LSB = 2 max_abs_V / 2**adc_bits``
  of the output electrode (full scale +-max_abs_V; the readings of a passive network never exceed the
  largest input voltage, so nothing saturates when the output limits are at least the input limits).
* Compliance is flagged, not emulated: the simulated source does not fold back at its compliance.
* :meth:`reset` with ``reset_mode="restore"`` restores the junction state at construction exactly;
  with ``"relax"`` it holds every source at 0 V for ``relax_time_s`` (``"exact"``: in steps of
  ``relax_dt_s``),
  which is what a bench can do. Neither rewinds the noise generators: after a reset the read
  noise and the junction noise continue their streams (a new realisation, as on a bench), so two
  series from the same reset state differ by their noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hardware._checks import check_choice, check_int, check_real, make_rng
from hardware.device import Device, ElectrodeChannel, Measurement, Readings
from hardware.errors import ComplianceError, HardwareValidationError, InstrumentError

__all__ = ["OracleState", "SimulatedDevice"]


class OracleState(NamedTuple):
    """What a simulation knows and no bench can measure: the inside of the network at one instant.

    Attributes
    ----------
    node_voltage_V : ndarray, shape (n_nodes,)
        Voltage of every circuit node (electrode nodes included).
    junction_voltage_V : ndarray, shape (n_junctions,)
        Signed voltage across every junction (node ``a`` minus node ``b`` of the circuit edge).
    junction_current_A : ndarray, shape (n_junctions,)
        Current through every junction, ``conductance_S * junction_voltage_V``.
    conductance_S : ndarray, shape (n_junctions,)
        Junction conductances.
    state : ndarray, shape (n_junctions,)
        Junction state variables of the model (``g`` in [0, 1] for the rate balance).
    """

    node_voltage_V: np.ndarray
    junction_voltage_V: np.ndarray
    junction_current_A: np.ndarray
    conductance_S: np.ndarray
    state: np.ndarray


def _per_electrode(
    name: str, value: float | Mapping[str, float], electrodes: Sequence[str]
) -> dict[str, float]:
    if isinstance(value, Mapping):
        unknown = set(value) - set(electrodes)
        if unknown:
            raise HardwareValidationError(
                f"{name} names unknown electrodes {sorted(unknown)}; known: {list(electrodes)}"
            )
        missing = set(electrodes) - set(value)
        if missing:
            raise HardwareValidationError(f"{name} is missing electrodes {sorted(missing)}")
        return {k: float(value[k]) for k in electrodes}
    return dict.fromkeys(electrodes, float(value))


class SimulatedDevice(Device):
    """A simulated nanowire device with optional measurement realism.

    Parameters
    ----------
    network_or_path : nwphys.NanowireNetwork or str or Path
        A network object (``.circuit()``, ``.junction_model``, ``.junction_params``, ``.state``) or
        the path of an ``nwphys`` device file.
    inputs, outputs, ground : sequence of str
        Electrode names per role (disjoint); other electrodes float.
    max_abs_V : float or mapping name -> float
        Voltage limit per electrode in volts (default 10 V).
    compliance_A : float or mapping name -> float
        Current compliance per electrode in amperes (default 0.1 A).
    probe_nodes : sequence of int, optional
        Internal nodes whose voltage is returned in ``Measurement.node_voltage_V``.
    read_noise_V : float
        Standard deviation of the read noise on output voltages in volts (>= 0).
    read_noise_A : float
        Standard deviation of the read noise on input and ground currents in amperes (>= 0;
        default 0, noise-free currents).
    adc_bits : int, optional
        ADC resolution for output voltages (4..32 bits); None = ideal.
    settling_tau_s : float
        Source settling time constant in seconds (>= 0; 0 = ideal source).
    seed : int or numpy.random.Generator, optional
        Seed of the read-noise generator; the junction noise of a stochastic model and the
        junction variability (``junction_spread``) use child streams of it. Required when
        ``junction_spread > 0``.
    reset_mode : {"restore", "relax"}
        See the module docstring.
    relax_time_s, relax_dt_s : float
        Relaxation protocol of ``reset_mode="relax"``: every source at 0 V for ``relax_time_s``
        (default 10 s), as one hold with ``"sdirk2"`` or in steps of ``relax_dt_s`` (default 10 ms)
        with ``"exact"``.
    compliance_policy : {"raise", "record"}
    method : str
        Junction integrator, a held-sample method of :data:`nwphys.dynamics.methods.METHODS`:
        ``"sdirk2"`` (default), ``"sdirk2-sn"`` or ``"esdirk3-sn"`` (the compiled engine of
        :mod:`nwphys.dynamics.batched`, which :meth:`apply_batch` runs over many series at once; the
        second with a third-order scheme) or ``"exact"`` (first order, guarded).
    rtol, atol : float, optional
        Tolerances of ``"sdirk2"`` on the junction states (default 3e-3 and 3e-4, which hold the
        max abs error in g to <= 1e-3 on the validated operating points).
    n_substeps : int or "auto"
        Sub-steps per sample of ``"exact"`` (for a stochastic model: per noise sub-step).
    noise_substeps : int
        Stochastic junction models: split-step sub-steps per held sample (>= 1; the sample of
        ``dt_s`` is split into that many equal sub-steps, each followed by its noise). Ignored by a
        deterministic model. The error of the split step falls with the sub-step (measured in
        ``docs/integrator.md``): below 1e-3 in ``g`` at one sub-step per 10 ms sample, but at
        0.1 s samples on the default reservoir device one sub-step is off by 0.12 of a reading's
        spread path-wise (1.2e-2 at 8 sub-steps), so choose the sub-steps for the accuracy needed.
    junction_spread : float
        Device-to-device variability of the junctions, in [0, 2] (dimensionless, the standard
        deviation of the natural log of each scattered parameter group; default 0, identical
        junctions with the network's parameters): see the module docstring. The per-junction
        parameters are in ``device.model.params`` (arrays of shape (n_junctions,)).
    """

    def __init__(
        self,
        network_or_path: Any,
        *,
        inputs: Sequence[str],
        outputs: Sequence[str],
        ground: Sequence[str] = (),
        max_abs_V: float | Mapping[str, float] = 10.0,
        compliance_A: float | Mapping[str, float] = 0.1,
        probe_nodes: Sequence[int] | None = None,
        read_noise_V: float = 0.0,
        adc_bits: int | None = None,
        settling_tau_s: float = 0.0,
        seed: int | np.random.Generator | None = None,
        reset_mode: str = "restore",
        relax_time_s: float = 10.0,
        relax_dt_s: float = 0.01,
        compliance_policy: str = "raise",
        method: str = "sdirk2",
        rtol: float | None = None,
        atol: float | None = None,
        n_substeps: int | str = 1,
        noise_substeps: int = 1,
        read_noise_A: float = 0.0,
        junction_spread: float = 0.0,
    ) -> None:
        import nwphys
        from nwphys.dynamics.stepper import DEFAULT_ATOL, DEFAULT_RTOL, Stepper
        from nwphys.dynamics.stochastic import GeneratorNoise
        from nwphys.junctions import make_junction_model, model_from_spec

        source = None
        if isinstance(network_or_path, (str, Path)):
            source = str(network_or_path)
            network = nwphys.load_network(network_or_path)
        else:
            network = network_or_path
        for attr in ("circuit", "junction_model", "junction_params", "state"):
            if not hasattr(network, attr):
                raise HardwareValidationError(
                    f"network_or_path must be an nwphys.NanowireNetwork or a device file path, "
                    f"got {type(network).__name__} without .{attr}"
                )
        circuit = network.circuit()
        known = tuple(circuit.electrode_names)
        inputs, outputs, ground = (tuple(str(s) for s in x) for x in (inputs, outputs, ground))
        roles: dict[str, str] = {}
        for role, names in (("input", inputs), ("output", outputs), ("ground", ground)):
            for n in names:
                if n not in known:
                    raise HardwareValidationError(
                        f"{role} electrode {n!r} not found; known electrodes: {', '.join(known)}"
                    )
                if n in roles:
                    raise HardwareValidationError(f"electrode {n!r} given as both {roles[n]} and {role}")
                roles[n] = role
        vmax = _per_electrode("max_abs_V", max_abs_V, known)
        icomp = _per_electrode("compliance_A", compliance_A, known)
        order = [*inputs, *outputs, *ground, *(n for n in known if n not in roles)]
        electrodes = [
            ElectrodeChannel(n, roles.get(n, "floating"), max_abs_V=vmax[n], compliance_A=icomp[n])
            for n in order
        ]
        super().__init__(electrodes, compliance_policy=compliance_policy)

        self.read_noise_V = check_real("read_noise_V", read_noise_V, low=0.0)
        self.read_noise_A = check_real("read_noise_A", read_noise_A, low=0.0)
        self.noise_substeps = check_int("noise_substeps", noise_substeps, low=1)
        self.adc_bits = None if adc_bits is None else check_int("adc_bits", adc_bits, low=4, high=32)
        self.settling_tau_s = check_real("settling_tau_s", settling_tau_s, low=0.0)
        self.reset_mode = check_choice("reset_mode", reset_mode, ("restore", "relax"))
        self.relax_time_s = check_real("relax_time_s", relax_time_s, low=0.0, low_open=True)
        self.relax_dt_s = check_real("relax_dt_s", relax_dt_s, low=0.0, low_open=True)
        self.junction_spread = check_real("junction_spread", junction_spread, low=0.0, high=2.0)
        if self.junction_spread > 0.0 and seed is None:
            raise HardwareValidationError(
                f"junction_spread={self.junction_spread!r} > 0 needs a seed (an integer or a Generator: "
                "the junction variability is always seeded), got seed=None"
            )
        self._seed = seed if isinstance(seed, (int, np.integer)) else None
        self._rng = make_rng(seed)
        self.network = network
        self.circuit = circuit
        # child streams of the seed: [0] the junction noise, [1] the junction variability. Spawning
        # advances only the seed sequence's child counter, never the read-noise generator's
        # state, and child [0] is the one a single spawn gives.
        noise_rng: np.random.Generator | None = None
        if self.junction_spread > 0.0:
            noise_rng, spread_rng = self._rng.spawn(2)
            self.model = make_junction_model(
                network.junction_model,
                spread=self.junction_spread,
                seed=spread_rng,
                n_junctions=circuit.n_junctions,
                **dict(network.junction_params),
            )
        else:
            self.model = model_from_spec(network.junction_model, network.junction_params)
        # the junction noise of a stochastic model (None for a deterministic one)
        self._noise: GeneratorNoise | None = None
        drift = self.model
        if self.model.stochastic:
            drift = self.model.drift_model()  # type: ignore[attr-defined]
            if noise_rng is None:
                noise_rng = self._rng.spawn(1)[0]
            self._noise = GeneratorNoise(self.model, noise_rng)
        driven = [*inputs, *ground]
        self.rtol = DEFAULT_RTOL if rtol is None else rtol
        self.atol = DEFAULT_ATOL if atol is None else atol
        try:
            self._stepper = Stepper(
                circuit,
                drift,
                driven=driven,
                g0=network.state,
                method=method,
                rtol=self.rtol,
                atol=self.atol,
                n_substeps=n_substeps,
            )
        except nwphys.ValidationError as exc:
            raise HardwareValidationError(str(exc)) from None
        self.method = self._stepper.method
        from nwphys.dynamics.methods import get_method

        row = get_method(self.method)
        self._adaptive = row.adaptive  # a long hold is one sample
        self._batched = row.batched  # apply_batch integrates the series together
        self._g_initial = np.array(self._stepper.g, dtype=float)
        self._idx_in = np.array([known.index(n) for n in inputs], dtype=np.int64)
        self._idx_out = np.array([known.index(n) for n in outputs], dtype=np.int64)
        self._idx_gnd = np.array([known.index(n) for n in ground], dtype=np.int64)
        self._n_ground = len(ground)
        self._probe_nodes = None
        if probe_nodes is not None:
            p = np.asarray(probe_nodes, dtype=np.int64).reshape(-1)
            if p.size and (p.min() < 0 or p.max() >= circuit.n_nodes):
                raise HardwareValidationError(
                    f"probe_nodes must index nodes in [0, {circuit.n_nodes - 1}], got {p.tolist()}"
                )
            self._probe_nodes = p
        self._out_lsb_V = None
        if self.adc_bits is not None:
            self._out_lsb_V = np.array([2.0 * vmax[n] / 2.0**self.adc_bits for n in outputs])
        self._applied_V = np.zeros(self.n_inputs)
        self._source = source

    # ------------------------------------------------------------------ state access
    @property
    def g(self) -> np.ndarray:
        """Copy of the junction state, shape (n_junctions,)."""
        return np.array(self._stepper.g, dtype=float)

    def oracle(self) -> OracleState:
        """The simulation-only oracle readout at the present bias and state (time does not advance).

        Internal node voltages, junction voltages, currents and conductances: what the physical
        reservoir's ``readout="oracle"`` / ``"conductances"`` and the junction-level calibration
        use. A bench has no such reading; :meth:`~hardware.Device.apply` returns only electrode
        quantities.
        """
        self._check_open()
        out = self._stepper.read(self._driven_now(), probe_nodes=np.arange(self.circuit.n_nodes))
        V = np.asarray(out.node_voltage_V[0], dtype=float)
        e = np.asarray(self.circuit.edges)
        vj = V[e[:, 0]] - V[e[:, 1]]
        G = np.asarray(self.model.conductance_S(out.g_final), dtype=float)
        return OracleState(V, vj, G * vj, G, np.asarray(out.g_final, dtype=float))

    def set_state(self, g: Any) -> None:
        """Set the junction state (shape (n_junctions,))."""
        self._stepper.set_state(g)

    # ------------------------------------------------------------------ hooks
    def _settle(self, commanded_V: np.ndarray, dt_s: float) -> np.ndarray:
        if self.settling_tau_s == 0.0:
            return commanded_V
        alpha = -np.expm1(-dt_s / self.settling_tau_s)
        out = np.empty_like(commanded_V)
        prev = self._applied_V.copy()
        for k in range(commanded_V.shape[0]):
            prev = prev + alpha * (commanded_V[k] - prev)
            out[k] = prev
        return out

    def _hold(self, driven_V: np.ndarray, dt_s: float, probe_nodes: np.ndarray | None) -> Any:
        """Held samples of the sources ``driven_V`` (inputs then ground), read at their ends: the
        stepper alone, or the split step with the junction noise for a stochastic model."""
        if self._noise is None:
            return self._stepper.run(driven_V, dt_s, probe_nodes=probe_nodes)
        from nwphys.dynamics.stochastic import split_step_run

        return split_step_run(
            self._stepper,
            self.model,
            driven_V,
            dt_s,
            n_substeps=self.noise_substeps,
            noise=self._noise,
            probe_nodes=probe_nodes,
        )

    def _readout(self, applied_V: np.ndarray, dt_s: float) -> Readings:
        n = applied_V.shape[0]
        driven = np.concatenate([applied_V, np.zeros((n, self._n_ground))], axis=1)
        res = self._hold(driven, dt_s, self._probe_nodes)
        return self._readings(res, applied_V)

    def _readings(self, res: Any, applied_V: np.ndarray) -> Readings:
        ev = np.asarray(res.electrode_voltage_V)
        ei = np.asarray(res.electrode_current_A)
        out_V = ev[:, self._idx_out]
        if self.read_noise_V > 0.0 and out_V.size:
            out_V = out_V + self._rng.normal(0.0, self.read_noise_V, size=out_V.shape)
        if self._out_lsb_V is not None and out_V.size:
            out_V = np.round(out_V / self._out_lsb_V) * self._out_lsb_V
        i_in, i_gnd = ei[:, self._idx_in], ei[:, self._idx_gnd]
        if self.read_noise_A > 0.0:
            i_in = i_in + self._rng.normal(0.0, self.read_noise_A, size=i_in.shape)
            if i_gnd.size:
                i_gnd = i_gnd + self._rng.normal(0.0, self.read_noise_A, size=i_gnd.shape)
        nv = None if self._probe_nodes is None else np.asarray(res.node_voltage_V)
        return Readings(
            input_V=applied_V,
            output_V=out_V,
            input_current_A=i_in,
            ground_current_A=i_gnd,
            node_voltage_V=nv,
        )

    def _apply(self, voltages_V: np.ndarray, dt_s: float) -> Readings:
        applied = self._settle(voltages_V, dt_s)
        r = self._readout(applied, dt_s)
        self._applied_V = applied[-1].copy()
        return r

    def apply_batch(self, voltages_V: Sequence[Any], dt_s: float) -> list[Measurement | Exception]:
        """Drive independent series, each from the reset state, and read every step of each.

        The same as ``for v in voltages_V: device.reset(); device.apply(v, dt_s)``, except that a
        series that fails does not stop the others. With ``method="sdirk2-sn"`` or ``"esdirk3-sn"`` and
        ``reset_mode="restore"`` (a batched method of the registry) the series are integrated
        together by the compiled engine
        (:meth:`nwphys.Stepper.run_batch`), equal to the one-at-a-time runs within the
        integration tolerances; otherwise they run one after another. A stochastic junction model
        always runs them one after another (the engine has no noise); the junction noise
        continues its stream from series to series.

        Parameters
        ----------
        voltages_V : sequence of array_like, shape (n_steps_b, n_inputs)
            Input voltages of every series (volts; checked against the limits before anything is
            applied).
        dt_s : float
            Step duration in seconds (> 0).

        Returns
        -------
        list
            Per series, its :class:`~hardware.Measurement` (``t_s`` from 0), or the exception
            that stopped it: :class:`~hardware.errors.ComplianceError` under
            ``compliance_policy="raise"``, :class:`nwphys.IntegrationError` when the integrator
            failed, :class:`~hardware.errors.InstrumentError` for a reading that is not a finite
            number. After the call the device holds the state, clock and bias after the last series;
            when that series failed, its sources are at 0 V (the safe state), as after a failed
            :meth:`apply`.
        """
        self._check_open()
        volts = [self.check_voltages(v) for v in voltages_V]
        dt = check_real("dt_s", dt_s, low=0.0, low_open=True)
        if not volts:
            return []
        if not self._batched or self.reset_mode != "restore" or self._noise is not None:
            return [self._one_series(v, dt) for v in volts]
        applied = []
        for v in volts:
            self._applied_V = np.zeros(self.n_inputs)
            applied.append(self._settle(v, dt))
        driven = [np.concatenate([a, np.zeros((a.shape[0], self._n_ground))], axis=1) for a in applied]
        try:
            results = self._stepper.run_batch(driven, dt, g0=self._g_initial, probe_nodes=self._probe_nodes)
        except BaseException as exc:
            self._safe_state_quietly(exc)
            raise
        import nwphys

        out: list[Measurement | Exception] = []
        for r, a in zip(results, applied, strict=True):
            if not r.ok:
                out.append(nwphys.IntegrationError(r.message))
                continue
            readings = self._readings(r, a)
            try:
                self._check_readings(readings)
            except InstrumentError as exc:  # a series that read a non-finite number stops alone
                out.append(exc)
                continue
            m = self._measurement(readings, dt, dt * np.arange(a.shape[0], dtype=float), "apply")
            try:
                self._handle_compliance(m)
            except ComplianceError as exc:
                out.append(exc)
                continue
            out.append(m)
        # the device ends as after the last series
        last, a_last = results[-1], applied[-1]
        self.reset()
        self._stepper.set_state(last.g_final)
        n_last = int(last.stats["n_samples"])
        if n_last:
            self._applied_V = a_last[n_last - 1].copy()
            self._bias_V = volts[-1][n_last - 1].copy()
        self._seg = (0.0, dt, n_last)
        self._clock_s = dt * n_last
        self.n_apply += len(volts)
        self.n_steps_total += sum(v.shape[0] for v in volts)
        if isinstance(out[-1], Exception):
            # as after a failed apply: the last series stopped, so the sources end at 0 V
            self.safe_state()
        return out

    def _one_series(self, v: np.ndarray, dt: float) -> Measurement | Exception:
        """Reset and drive one series, returning the error that stopped it instead of raising it."""
        import nwphys

        self.reset()
        try:
            return self.apply(v, dt)
        except (ComplianceError, InstrumentError, nwphys.IntegrationError) as exc:
            return exc

    def _driven_now(self) -> np.ndarray:
        """Source voltages of the driven electrodes now (V): the inputs as applied, ground at 0 V."""
        return np.concatenate([self._applied_V, np.zeros(self._n_ground)])

    def _read(self) -> Readings:
        # a read-only nodal solve at the present state: time does not advance, the state is unchanged
        out = self._stepper.read(self._driven_now(), probe_nodes=self._probe_nodes)
        return self._readings(out, self._applied_V[None, :].copy())

    def _reset(self) -> None:
        self._applied_V = np.zeros(self.n_inputs)
        if self.reset_mode == "restore":
            self._stepper.set_state(self._g_initial)
            return
        if self._adaptive:  # one long hold: the integrator picks its own steps
            self._hold(np.zeros((1, self.n_inputs + self._n_ground)), self.relax_time_s, None)
            return
        n = max(1, round(self.relax_time_s / self.relax_dt_s))
        zeros = np.zeros((n, self.n_inputs + self._n_ground))
        self._hold(zeros, self.relax_dt_s, None)

    def _safe_state(self) -> None:
        # An in-process source has no inertia: 0 V is reached at once, without advancing time.
        self._applied_V = np.zeros(self.n_inputs)

    def _metadata(self) -> dict[str, Any]:
        return {
            "source": self._source,
            "junction_model": self.network.junction_model,
            "junction_params": dict(self.network.junction_params),
            "n_junctions": int(self.circuit.n_junctions),
            "network_metadata": dict(getattr(self.network, "metadata", {}) or {}),
            "read_noise_V": self.read_noise_V,
            "read_noise_A": self.read_noise_A,
            "adc_bits": self.adc_bits,
            "settling_tau_s": self.settling_tau_s,
            "seed": self._seed,
            "reset_mode": self.reset_mode,
            "method": self.method,
            "rtol": self.rtol,
            "atol": self.atol,
            "noise_substeps": self.noise_substeps,
            "junction_spread": self.junction_spread,
            "junction_noise": None if self._noise is None else {
                k: (float(v) if np.ndim(v) == 0 else np.asarray(v).tolist())
                for k, v in self.model.noise_params.items()  # type: ignore[attr-defined]
            },
        }
