"""Drive mapping of the physical reservoir: input series to electrode voltages.

A fitted :class:`Encoding` holds the input weights, bias and virtual-node mask and turns one
series into the voltage sequence applied to the input electrodes. :func:`draw_encoding` draws
the weights, bias and mask, each from its own random stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nwmodel.physical.mapping import encode_inputs

__all__ = ["Encoding", "draw_encoding"]


@dataclass(frozen=True)
class Encoding:
    """Fitted input encoding of a physical reservoir (picklable; sent to worker processes).

    Attributes
    ----------
    w_in : ndarray, shape (n_inputs, n_channels)
        Input weights (dimensionless).
    bias : ndarray, shape (n_inputs,)
        Bias added before the sigmoid (dimensionless).
    mask : ndarray, shape (n_virtual, n_inputs)
        Virtual-node mask (all ones for ``n_virtual == 1``).
    slope : float
        Sigmoid slope (dimensionless).
    v_bias_V, v_scale_V : float
        Electrode voltage window ``(v_bias_V, v_bias_V + v_scale_V)`` in volts (after calibration).
    dt_s : float
        Sample period in seconds.
    reset : str
        Reset policy between series (``"restore"``, ``"relax"`` or ``"none"``).
    relax_s : float
        Relaxation time of ``reset="relax"`` in seconds.
    readout : str
        Readout name (a key of :data:`nwmodel.physical.reservoir.READOUTS`).
    """

    w_in: np.ndarray
    bias: np.ndarray
    mask: np.ndarray
    slope: float
    v_bias_V: float
    v_scale_V: float
    dt_s: float
    reset: str
    relax_s: float
    readout: str = "electrodes"

    @property
    def n_virtual(self) -> int:
        """Virtual nodes per sample (sub-steps of each sample period)."""
        return int(self.mask.shape[0])

    def voltages_V(self, x: np.ndarray) -> np.ndarray:
        """Electrode voltages of one series.

        Parameters
        ----------
        x : ndarray, shape (n_channels, n_timepoints)
            One input series.

        Returns
        -------
        ndarray, shape (n_timepoints * n_virtual, n_inputs)
            Input-electrode voltages in volts, one row per sub-step of ``dt_s / n_virtual``.
        """
        pre = self.w_in @ x  # (n_inputs, T)
        # sub-step k of sample t: mask[k] * (W_in x_t); the bias is added by encode_inputs
        seq = (self.mask[None, :, :] * pre.T[:, None, :]).reshape(-1, pre.shape[0])
        return encode_inputs(
            seq.T,
            np.eye(pre.shape[0]),
            self.bias,
            slope=self.slope,
            v_bias_V=self.v_bias_V,
            v_scale_V=self.v_scale_V,
        )


def draw_encoding(
    streams: tuple[np.random.Generator, np.random.Generator, np.random.Generator],
    *,
    n_inputs: int,
    n_channels: int,
    n_virtual: int,
    input_scaling: float,
    bias_scaling: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the input weights, bias and virtual-node mask, each from its own stream.

    Parameters
    ----------
    streams : (Generator, Generator, Generator)
        Independent generators of the weights, the bias and the mask, in that order.
    n_inputs, n_channels, n_virtual : int
        Input electrodes, input channels and virtual nodes per sample.
    input_scaling, bias_scaling : float
        Half-widths of the uniform weights and bias (dimensionless, >= 0).

    Returns
    -------
    w_in : ndarray, shape (n_inputs, n_channels)
        Uniform in ``+-input_scaling``.
    bias : ndarray, shape (n_inputs,)
        Uniform in ``+-bias_scaling``.
    mask : ndarray, shape (n_virtual, n_inputs)
        Uniform in ``+-1`` for ``n_virtual > 1``, else ones.
    """
    w_rng, b_rng, m_rng = streams
    w_in = w_rng.uniform(-input_scaling, input_scaling, size=(n_inputs, n_channels))
    bias = b_rng.uniform(-bias_scaling, bias_scaling, size=n_inputs)
    mask = m_rng.uniform(-1.0, 1.0, size=(n_virtual, n_inputs)) if n_virtual > 1 else np.ones((1, n_inputs))
    return w_in, bias, mask
