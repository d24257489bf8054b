"""How the abstract NW-ESN maps onto a physical nanowire network (the documented defaults).

The abstract NW-ESN (Eqs. 7-10 of the NW-ESN paper) is a discretised mean-field picture of a
memristive junction::

    z = RESCALE(Wh h + Wx x + b),  RESCALE(a) = 0.35 + 0.8 * sigmoid(s * a)      (volts)
    h <- dt * (Kp(z) - (Kp(z) + Kd(z)) h) + gamma * h
    Kp(z) = Kp0 exp(eta_p z),  Kd(z) = Kd0 exp(-eta_d z)

A physical network (simulated by :mod:`nwphys`, served by the emulator or on a bench) integrates
``dg/dt = kp(|V|) (1 - g) - kd(|V|) g`` for every junction, with ``V`` the junction voltage of a
Kirchhoff nodal solve. This module states, and implements as defaults, the correspondence:

================  ===========================================  =====================================
abstract          physical                                     default here
================  ===========================================  =====================================
Kp0, Kd0,         junction parameters of the device            :data:`NWESN_JUNCTION_PARAMS`
eta_p, eta_d      (``rate_balance`` model, preset ``"nwesn"``)  (kp0 1e-4 /s, kd0 0.5 /s, 10 /V, 1 /V)
RESCALE window    junction voltage window, calibrated to the   ``v_bias_V = 0.35``,
(0.35, 1.15) V    electrodes: ``(v_bias_V + v_scale_V *         ``v_scale_V = 0.8``
                  sigmoid(slope*a)) / gain``
slope s           ``slope`` of the same sigmoid                 1.0
omega, beta       ``input_scaling``, ``bias_scaling``: input   1.0, 0.1
                  mask ``W_in`` (n_inputs, n_channels) uniform
                  in +-omega, bias uniform in +-beta
dt                sample period ``dt_s`` (seconds)              0.1 s
N                 feature count: electrode readings (output     all (16 on the default 16-pad device,
                  voltages, input and ground currents) x       x n_virtual)
                  virtual nodes
gamma             no knob: ``gamma = 1`` is exactly the         relaxation through ``kd0`` (the rate
                  forward-Euler step of the junction ODE;       balance); reset policy between
                  ``gamma < 1`` adds a leak ``(1-gamma)/dt``    series
                  that a junction does not have
rho, Wh           no knob: the recurrent coupling is the        wire density, device size, electrode
                  network itself (Kirchhoff's laws couple       layout and the junction window (how
                  every junction to its neighbours)             far junctions are driven)
================  ===========================================  =====================================

Two caveats are part of the mapping and are stated in ``docs/physical_mapping.md``:

* The window describes **junction** voltages, as in the abstract model. A junction sees only a
  fraction of the electrode voltage (the network is a divider of many junctions in series), so
  the physical reservoir calibrates the drive on the device first (:mod:`nwmodel.physical.calibration`)
  and applies ``window / gain`` at the electrodes; ``calibration="off"`` applies the window at
  the electrodes as it is.
* ``gamma`` and ``rho`` are dropped by :func:`abstract_to_physical`, which reports them in
  ``dropped`` together with what takes their place, instead of silently ignoring them.

Everything here is a pure function or a constant; no I/O.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nwmodel.errors import ModelValidationError
from nwphys.junctions import AG_JUNCTION_RANGE_S as _AG_RANGE
from nwphys.junctions import JUNCTION_PRESETS

__all__ = [
    "AG_JUNCTION_RANGE_S",
    "DEFAULT_ENCODING",
    "DEVICE_JUNCTION_PARAMS",
    "NWESN_JUNCTION_PARAMS",
    "PHYSICAL_GRIDS",
    "RESCALE_WINDOW_V",
    "TUNED_PHYSICAL_GRIDS",
    "abstract_to_physical",
    "encode_inputs",
    "sigmoid",
    "voltage_window",
]

#: The abstract NW-ESN's RESCALE range in volts: 0.35 + 0.8 * (0, 1).
RESCALE_WINDOW_V: tuple[float, float] = (0.35, 1.15)

#: NW-ESN junction parameters in the units of the ``rate_balance`` junction model
#: (``nwphys.make_junction_model("rate_balance", **NWESN_JUNCTION_PARAMS)``): a copy of the
#: preset ``"nwesn"`` of :data:`nwphys.junctions.JUNCTION_PRESETS`, whose kinetics are the
#: constants ``KP0_PER_S``, ``KD0_PER_S``, ``ETA_P_PER_V``, ``ETA_D_PER_V`` of :mod:`nwphys.junctions`.
NWESN_JUNCTION_PARAMS: dict[str, float] = dict(JUNCTION_PRESETS["nwesn"][1])

#: Published Ag nanowire junction conductances (:data:`nwphys.junctions.AG_JUNCTION_RANGE_S`).
AG_JUNCTION_RANGE_S: dict[str, float] = dict(_AG_RANGE)

#: Junctions of the default simulated device: NW-ESN kinetics, published Ag conductances (the
#: junction preset ``"ag"`` of :data:`nwphys.junctions.JUNCTION_PRESETS`).
DEVICE_JUNCTION_PARAMS: dict[str, float] = dict(JUNCTION_PRESETS["ag"][1])

#: Default input encoding of the physical reservoir (see the module table).
DEFAULT_ENCODING: dict[str, float] = {
    "v_bias_V": 0.35,
    "v_scale_V": 0.8,
    "slope": 1.0,
    "input_scaling": 1.0,
    "bias_scaling": 0.1,
    "dt_s": 0.1,
}

#: Physical hyperparameter grids for model selection (``quick`` for demos/CI, ``paper`` for the
#: full comparison). The junction window stays the abstract RESCALE window (0.35, 1.15) V, mapped
#: to the electrodes by the drive calibration; the grids vary what has a physical knob: the input
#: scaling ``omega``, the sigmoid slope ``s``, the sample period ``dt`` and the virtual nodes
#: (time multiplexing of each sample: more readings per electrode). ``paper`` has 8 configurations
#: (sized so that a 2-core machine runs a SyntheticControl cell in about an hour).
PHYSICAL_GRIDS: dict[str, dict[str, list[Any]]] = {
    "quick": {
        "input_scaling": [1.0],
        "bias_scaling": [0.1],
        "slope": [1.0],
        "dt_s": [0.1],
        "n_virtual": [1, 5],
    },
    "paper": {
        "input_scaling": [1.0, 10.0],
        "bias_scaling": [0.1],
        "slope": [1.0, 5.0],
        "dt_s": [0.1, 0.01],
        "n_virtual": [5],
    },
}

#: Physical grids of the ``tuned`` protocol (:mod:`nwmodel.selection.protocols`, which adds the readout
#: feature sets): built around what a bench can vary cheaply. One reading per sample
#: (``n_virtual`` 1: every sample's readings are features already), parallel presentations
#: (``n_presentations`` 2 repeats each series with an independent input encoding; its first
#: presentation is the ``n_presentations`` 1 one, so the feature store integrates it once), the
#: sample period and the drive (``input_scaling``). ``paper`` has 8 reservoir configurations that
#: cost 2 integrations of each series per (``input_scaling``, ``dt_s``, seed).
TUNED_PHYSICAL_GRIDS: dict[str, dict[str, list[Any]]] = {
    "quick": {
        "input_scaling": [1.0],
        "bias_scaling": [0.1],
        "slope": [1.0],
        "dt_s": [0.1],
        "n_virtual": [1],
        "n_presentations": [1],
    },
    "paper": {
        "input_scaling": [1.0, 3.0],
        "bias_scaling": [0.1],
        "slope": [1.0],
        "dt_s": [0.1, 0.02],
        "n_virtual": [1],
        "n_presentations": [1, 2],
    },
}

#: What replaces the abstract quantities that have no knob on a physical network.
_DROPPED: dict[str, str] = {
    "gamma": "no physical knob: relaxation through kd0 of the junction rate balance (gamma = 1 is the "
    "forward-Euler step of the junction ODE) and the reset policy between series",
    "rho": "no physical knob: the coupling is set by the network (wire density, device size, electrode "
    "layout) and by how hard junctions are driven (v_scale_V)",
    "N": "the feature count: electrode readings (output voltages, input and ground currents) times "
    "virtual nodes",
}

#: Abstract name (NW-ESN paper or nwmodel.NWESNClassifier keyword) -> physical-reservoir keyword.
_TO_ESTIMATOR: dict[str, str] = {
    "omega": "input_scaling",
    "input_scaling": "input_scaling",
    "beta": "bias_scaling",
    "bias_scaling": "bias_scaling",
    "s": "slope",
    "slope": "slope",
    "dt": "dt_s",
    "N": "n_features",
    "n_units": "n_features",
    "ridge_alpha": "ridge_alpha",
}
#: Abstract junction constant -> ``rate_balance`` parameter.
_TO_JUNCTION: dict[str, str] = {
    "Kp0": "kp0_per_s",
    "kp0": "kp0_per_s",
    "Kd0": "kd0_per_s",
    "kd0": "kd0_per_s",
    "eta_p": "eta_p_per_V",
    "eta_d": "eta_d_per_V",
}
#: Abstract quantities without a physical knob (paper name or estimator keyword -> key in _DROPPED).
_NO_KNOB: dict[str, str] = {"gamma": "gamma", "rho": "rho", "spectral_radius": "rho"}
#: Estimator keywords of the abstract model that are software settings, not reservoir quantities.
_IGNORED = {"exact_spectral_radius", "backend", "dtype", "device", "random_state"}
_ABSTRACT_KEYS = set(_TO_ESTIMATOR) | set(_TO_JUNCTION) | set(_NO_KNOB) | _IGNORED


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function, numerically stable for large ``|a|``."""
    a = np.asarray(a, dtype=float)
    out = np.empty_like(a)
    pos = a >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-a[pos]))
    ea = np.exp(a[~pos])
    out[~pos] = ea / (1.0 + ea)
    return out


def voltage_window(v_bias_V: float, v_scale_V: float) -> tuple[float, float]:
    """Return the open electrode voltage interval ``(v_bias_V, v_bias_V + v_scale_V)`` in volts."""
    return (float(v_bias_V), float(v_bias_V) + float(v_scale_V))


def encode_inputs(
    x: np.ndarray,
    w_in: np.ndarray,
    bias: np.ndarray,
    *,
    slope: float,
    v_bias_V: float,
    v_scale_V: float,
) -> np.ndarray:
    """Map one input series to electrode voltages: the physical RESCALE.

    ``voltages_V[t] = v_bias_V + v_scale_V * sigmoid(slope * (w_in @ x[:, t] + bias))``.

    Parameters
    ----------
    x : ndarray, shape (n_channels, n_timepoints)
        One input series.
    w_in : ndarray, shape (n_inputs, n_channels)
        Input mask (the abstract ``Wx``; one row per input electrode, or per input electrode and
        virtual node).
    bias : ndarray, shape (n_inputs,)
        Bias (the abstract ``b``).
    slope : float
        Sigmoid slope (the abstract ``s``).
    v_bias_V, v_scale_V : float
        Lower edge and width of the electrode voltage window in volts.

    Returns
    -------
    voltages_V : ndarray, shape (n_timepoints, n_inputs)
        Voltages inside the open window ``(v_bias_V, v_bias_V + v_scale_V)``.
    """
    pre = w_in @ np.asarray(x, dtype=float) + np.asarray(bias, dtype=float)[:, None]
    return (v_bias_V + v_scale_V * sigmoid(slope * pre)).T


def abstract_to_physical(params: dict[str, Any]) -> dict[str, Any]:
    """Translate abstract NW-ESN hyperparameters into physical-reservoir settings.

    Parameters
    ----------
    params : dict
        Abstract NW-ESN hyperparameters, by the paper's names (``omega, beta, rho, gamma, s, dt, N,
        Kp0, Kd0, eta_p, eta_d``) or the keywords of :class:`nwmodel.NWESNClassifier`
        (``input_scaling, bias_scaling, spectral_radius, gamma, slope, dt, n_units, kp0, kd0,
        eta_p, eta_d, ridge_alpha``; software settings such as ``backend`` are ignored). Unknown
        keys are an error.

    Returns
    -------
    dict
        ``{"estimator": {...}, "junction_params": {...}, "dropped": {name: what replaces it}}``:
        keyword arguments of :class:`~nwmodel.physical.reservoir.PhysicalReservoirClassifier`
        (``input_scaling``, ``bias_scaling``, ``slope``, ``dt_s``, ``n_features``, ``ridge_alpha``,
        the default window), the ``rate_balance``
        junction parameters of the device, and the quantities without a physical knob.
    """
    unknown = set(params) - _ABSTRACT_KEYS
    if unknown:
        raise ModelValidationError(
            f"params has unknown abstract NW-ESN keys {sorted(unknown)}; allowed {sorted(_ABSTRACT_KEYS)}"
        )
    est: dict[str, Any] = {
        "v_bias_V": DEFAULT_ENCODING["v_bias_V"],
        "v_scale_V": DEFAULT_ENCODING["v_scale_V"],
    }
    junction = dict(NWESN_JUNCTION_PARAMS)
    dropped: dict[str, str] = {}
    for key, value in params.items():
        if key in _TO_ESTIMATOR:
            est[_TO_ESTIMATOR[key]] = value
        elif key in _TO_JUNCTION:
            junction[_TO_JUNCTION[key]] = float(value)
        elif key in _NO_KNOB:
            dropped[key] = _DROPPED[_NO_KNOB[key]]
    return {"estimator": est, "junction_params": junction, "dropped": dropped}
