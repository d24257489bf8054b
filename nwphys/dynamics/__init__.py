"""Time integration of junction networks under electrode drives.

- :mod:`~nwphys.dynamics.drives`: per-electrode voltage waveforms;
- :mod:`~nwphys.dynamics.methods`: the one registry of integration methods;
- :mod:`~nwphys.dynamics.integrate`: :func:`~nwphys.simulate`, the entry point over a run;
- :mod:`~nwphys.dynamics.stepper`: :class:`~nwphys.Stepper`, held-sample stepping, one sample at a
  time;
- :mod:`~nwphys.dynamics.implicit`: the error-controlled stiff integrator (``"sdirk2"``);
- :mod:`~nwphys.dynamics.batched`: many independent series through one circuit (``"sdirk2-sn"``,
  ``"esdirk3-sn"``);
- :mod:`~nwphys.dynamics.stochastic`: the noise of stochastic junctions and the split step.
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "drives": (
        "DC", "DEFAULT_MAX_ABS_V", "Drive", "PiecewiseLinear", "Pulse", "Sampled", "Sine", "Waveform",
        "parse_drive",
    ),
    "methods": ("METHODS", "IntegrationMethod", "get_method", "method_names", "register_method"),
    "integrate": ("IVP_METHODS", "SimulationResult", "network_jacobian", "simulate"),
    "stepper": ("STEPPER_METHODS", "Stepper", "StepperOutput", "SwitchingTimeWarning", "check_exact_step"),
    "implicit": ("GAMMA", "StiffIntegrator", "StiffStats"),
    "batched": (
        "DEFAULT_KCL_INNER_RTOL", "DEFAULT_MAX_BATCH_BYTES", "DEFAULT_NEWTON_FRACTION",
        "DEFAULT_REFACTOR_RATIO", "DEFAULT_THETA_FLOOR", "SCHEMES", "BatchedEngine", "SeriesResult",
    ),
    "stochastic": (
        "CoupledNoisePath", "GeneratorNoise", "NoiseStep", "ou_jump_increment", "ou_noise_std",
        "power_law_jump_sizes", "reflect_unit_interval", "relaxation_rate_per_s", "split_step_run",
    ),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
