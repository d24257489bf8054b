"""A hand-solvable reference backend for tests, examples and benchmarks (no :mod:`nwphys`).

:class:`StarDevice` is a star network: every input electrode ``i`` reaches a common centre node
through a memristive conductance ``G_i`` (state); every ground electrode through a fixed
conductance ``G_gnd_S``; output electrodes sit on the centre node (they float and read its voltage).
Per step ``k`` (the same readout-then-update rule as the simulation):

    V_c = sum_i G_i V_i / (sum_i G_i + n_gnd G_gnd)
    I_i = G_i (V_i - V_c),   I_g = -G_gnd V_c,   output_V = V_c (+ read noise)
    G_i <- G_i + rate_S_per_C |I_i| dt_s            (conductance grows with the charge passed)

Kirchhoff's current law holds exactly: ``sum_i I_i + sum_g I_g = 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hardware._checks import check_real, make_rng
from hardware.device import Device, ElectrodeChannel, Readings

__all__ = ["StarDevice"]


class StarDevice(Device):
    """Star network of memristive inputs (see the module docstring).

    Parameters
    ----------
    inputs, outputs, ground : sequence of str
        Electrode names per role (ground must not be empty: the centre needs a DC path).
    G0_S : float
        Initial conductance of every input branch in siemens.
    G_gnd_S : float
        Conductance of every ground branch in siemens.
    rate_S_per_C : float
        Conductance change per coulomb passed (>= 0).
    max_abs_V, compliance_A : float
        Limits of every electrode.
    read_noise_V : float
        Gaussian read noise on output voltages (>= 0).
    seed : int or Generator, optional
        Seed of the read noise.
    compliance_policy : {"raise", "record"}
    """

    def __init__(self, inputs: Sequence[str] = ("in0", "in1"), outputs: Sequence[str] = ("out0",),
                 ground: Sequence[str] = ("gnd",), *, G0_S: float = 1e-3, G_gnd_S: float = 2e-3,
                 rate_S_per_C: float = 1.0, max_abs_V: float = 5.0, compliance_A: float = 0.1,
                 read_noise_V: float = 0.0, seed: int | np.random.Generator | None = None,
                 compliance_policy: str = "raise") -> None:
        els = ([ElectrodeChannel(n, "input", max_abs_V, compliance_A) for n in inputs]
               + [ElectrodeChannel(n, "output", max_abs_V, compliance_A) for n in outputs]
               + [ElectrodeChannel(n, "ground", max_abs_V, compliance_A) for n in ground])
        super().__init__(els, compliance_policy=compliance_policy)
        if not ground:
            from hardware.errors import HardwareValidationError

            raise HardwareValidationError("ground must name at least one electrode (DC path of the centre)")
        self.G0_S = check_real("G0_S", G0_S, low=0.0, low_open=True)
        self.G_gnd_S = check_real("G_gnd_S", G_gnd_S, low=0.0, low_open=True)
        self.rate_S_per_C = check_real("rate_S_per_C", rate_S_per_C, low=0.0)
        self.read_noise_V = check_real("read_noise_V", read_noise_V, low=0.0)
        self._rng = make_rng(seed)
        self.G_S = np.full(self.n_inputs, self.G0_S)
        self._applied_V = np.zeros(self.n_inputs)

    def _solve(self, v: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        ng = len(self.ground_names)
        vc = float(self.G_S @ v / (self.G_S.sum() + ng * self.G_gnd_S))
        return vc, self.G_S * (v - vc), np.full(ng, -self.G_gnd_S * vc)

    def _run(self, voltages_V: np.ndarray, dt_s: float | None) -> Readings:
        n, no = voltages_V.shape[0], len(self.output_names)
        out = np.empty((n, no))
        i_in = np.empty_like(voltages_V)
        i_g = np.empty((n, len(self.ground_names)))
        for k in range(n):
            vc, i_in[k], i_g[k] = self._solve(voltages_V[k])
            out[k] = vc
            if dt_s is not None:
                self.G_S = self.G_S + self.rate_S_per_C * np.abs(i_in[k]) * dt_s
        if self.read_noise_V > 0.0:
            out = out + self._rng.normal(0.0, self.read_noise_V, size=out.shape)
        return Readings(input_V=voltages_V.copy(), output_V=out, input_current_A=i_in, ground_current_A=i_g)

    def _apply(self, voltages_V: np.ndarray, dt_s: float) -> Readings:
        r = self._run(voltages_V, dt_s)
        self._applied_V = voltages_V[-1].copy()
        return r

    def _read(self) -> Readings:
        return self._run(self._applied_V[None, :].copy(), None)

    def _reset(self) -> None:
        self.G_S = np.full(self.n_inputs, self.G0_S)
        self._applied_V = np.zeros(self.n_inputs)

    def _safe_state(self) -> None:
        self._applied_V = np.zeros(self.n_inputs)

    def _metadata(self) -> dict[str, Any]:
        return {"G0_S": self.G0_S, "G_gnd_S": self.G_gnd_S, "rate_S_per_C": self.rate_S_per_C,
                "read_noise_V": self.read_noise_V}
