"""The row of a measurement reply (``MEAS?``, ``LIST:STEP?``, ``BLOCK:...?``), shared by server and client.

A row is ``t_s, input_V (k), output_V (n_out), input_current_A (k), ground_current_A (n_gnd),
compliance_mask`` (bit j set when input j was at compliance): ``2 + 2 k + n_out + n_gnd`` float64
values. :class:`RowLayout` is the one definition of that order; the emulator writes rows with
:meth:`RowLayout.rows` and the client reads them back with :meth:`RowLayout.readings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hardware.device import Measurement, Readings

__all__ = ["RowLayout", "rows_from_measurement"]


@dataclass(frozen=True)
class RowLayout:
    """Column positions of a reply row for ``n_inputs`` inputs, ``n_outputs`` outputs, ``n_ground`` grounds.

    Attributes
    ----------
    n_inputs, n_outputs, n_ground : int
        Electrodes per role.
    """

    n_inputs: int
    n_outputs: int
    n_ground: int

    @classmethod
    def of(
        cls, input_names: Sequence[str], output_names: Sequence[str], ground_names: Sequence[str]
    ) -> RowLayout:
        """The layout of a device with these electrode names per role."""
        return cls(len(input_names), len(output_names), len(ground_names))

    @property
    def n_columns(self) -> int:
        """Values per row: ``2 + 2 n_inputs + n_outputs + n_ground``."""
        return 2 + 2 * self.n_inputs + self.n_outputs + self.n_ground

    @property
    def t_s(self) -> int:
        """Column of the time stamp (s)."""
        return 0

    @property
    def input_V(self) -> slice:
        """Columns of the input voltages (V)."""
        return slice(1, 1 + self.n_inputs)

    @property
    def output_V(self) -> slice:
        """Columns of the output voltages (V)."""
        return slice(1 + self.n_inputs, 1 + self.n_inputs + self.n_outputs)

    @property
    def input_current_A(self) -> slice:
        """Columns of the input currents (A)."""
        start = 1 + self.n_inputs + self.n_outputs
        return slice(start, start + self.n_inputs)

    @property
    def ground_current_A(self) -> slice:
        """Columns of the ground currents (A)."""
        start = 1 + 2 * self.n_inputs + self.n_outputs
        return slice(start, start + self.n_ground)

    @property
    def compliance_mask(self) -> int:
        """Column of the compliance bit mask (bit j: input j at compliance)."""
        return self.n_columns - 1

    @staticmethod
    def column_names(
        input_names: Sequence[str], output_names: Sequence[str], ground_names: Sequence[str]
    ) -> list[str]:
        """Names of the columns (the reply of ``FORM:COL?``), in row order."""
        return (
            ["t_s"]
            + [f"in_V:{n}" for n in input_names]
            + [f"out_V:{n}" for n in output_names]
            + [f"in_A:{n}" for n in input_names]
            + [f"gnd_A:{n}" for n in ground_names]
            + ["comp"]
        )

    def rows(self, m: Measurement) -> np.ndarray:
        """The rows of measurement ``m``, shape (n_steps, n_columns)."""
        k = self.n_inputs
        rows = np.empty((m.t_s.shape[0], self.n_columns))
        rows[:, self.t_s] = m.t_s
        rows[:, self.input_V] = m.input_V
        rows[:, self.output_V] = m.output_V
        rows[:, self.input_current_A] = m.input_current_A
        rows[:, self.ground_current_A] = m.ground_current_A
        bits = m.compliance.astype(np.int64) << np.arange(k, dtype=np.int64)
        rows[:, self.compliance_mask] = bits.sum(axis=1)
        return rows

    def readings(self, rows: np.ndarray) -> Readings:
        """The readings of ``rows`` (shape (n_steps, n_columns)); the arrays are views of ``rows``."""
        mask = rows[:, self.compliance_mask].astype(np.int64)
        comp = ((mask[:, None] >> np.arange(self.n_inputs)) & 1).astype(bool)
        return Readings(
            input_V=rows[:, self.input_V],
            output_V=rows[:, self.output_V],
            input_current_A=rows[:, self.input_current_A],
            ground_current_A=rows[:, self.ground_current_A],
            compliance=comp,
            t_s=rows[:, self.t_s],
        )


def rows_from_measurement(m: Measurement) -> np.ndarray:
    """The reply rows of a measurement, shape (n_steps, 2 + 2 k + n_out + n_gnd)."""
    layout = RowLayout(m.input_V.shape[1], m.output_V.shape[1], m.ground_current_A.shape[1])
    return layout.rows(m)
