"""The electrical view of a nanowire device: the contract between geometry and dynamics.

A :class:`Circuit` is what the nodal solver and the integrators consume. It is built from a
generated network (:mod:`nwphys.geometry.graph`) or by hand for exactly solvable test circuits.

Conventions
-----------
* Nodes are numbered ``0 .. n_nodes-1``. Each electrode is one node (``electrode_node``): wires
  that touch an electrode are merged into that node (ideal contact).
* ``edges`` are the memristive junctions, whose conductance changes in time.
* ``fixed_edges`` are ohmic elements of constant conductance (inner wire segments of the
  multi-nodal representation; resistors of hand-built test circuits).
* ``series_resistance_ohm`` is a resistance between each electrode node and its source
  (e.g. the 82 ohm load of Milano et al. 2022); 0 means the source drives the node directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from nwphys._checks import check_finite_array
from nwphys.errors import ValidationError

__all__ = ["Circuit"]


@dataclass(frozen=True)
class Circuit:
    """Electrical network of junctions, fixed resistors and electrodes.

    Parameters
    ----------
    n_nodes : int
        Number of nodes, electrode nodes included.
    edges : ndarray of int, shape (n_junctions, 2)
        Node pairs of the memristive junctions.
    electrode_node : ndarray of int, shape (n_electrodes,)
        Node index of each electrode.
    electrode_names : tuple of str, length n_electrodes
        Unique electrode names.
    fixed_edges : ndarray of int, shape (n_fixed, 2)
        Node pairs of constant-conductance elements.
    fixed_conductance_S : ndarray of float, shape (n_fixed,)
        Conductance of each fixed element in siemens (> 0).
    series_resistance_ohm : ndarray of float, shape (n_electrodes,)
        Source series resistance of each electrode in ohms (>= 0).
    """

    #: Name in content digests (:func:`nwphys._digest.class_tag`): stored run files keep it.
    DIGEST_TAG: ClassVar[str] = "nwphys.circuit.Circuit"

    n_nodes: int
    edges: np.ndarray
    electrode_node: np.ndarray
    electrode_names: tuple[str, ...]
    fixed_edges: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    fixed_conductance_S: np.ndarray = field(default_factory=lambda: np.zeros(0))
    series_resistance_ohm: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = int(self.n_nodes)
        if n < 1:
            raise ValidationError(f"n_nodes must be >= 1, got {self.n_nodes!r}")
        edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        fixed = np.asarray(self.fixed_edges, dtype=np.int64).reshape(-1, 2)
        gfix = check_finite_array("fixed_conductance_S", self.fixed_conductance_S, ndim=1)
        enode = np.asarray(self.electrode_node, dtype=np.int64).reshape(-1)
        names = tuple(str(s) for s in self.electrode_names)
        for name, arr in (("edges", edges), ("fixed_edges", fixed), ("electrode_node", enode)):
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                raise ValidationError(
                    f"{name} must index nodes in [0, {n - 1}], got range [{arr.min()}, {arr.max()}]"
                )
        if np.any(edges[:, 0] == edges[:, 1]) or np.any(fixed[:, 0] == fixed[:, 1]):
            raise ValidationError("edges and fixed_edges must join two different nodes (self-loop found)")
        if gfix.shape != (fixed.shape[0],) or np.any(gfix <= 0):
            raise ValidationError(
                f"fixed_conductance_S must have shape ({fixed.shape[0]},) with values > 0 S, "
                f"got shape {gfix.shape}"
            )
        if len(names) != enode.size or len(set(names)) != len(names):
            raise ValidationError(f"electrode_names must be {enode.size} unique names, got {names!r}")
        if len(set(enode.tolist())) != enode.size:
            raise ValidationError("electrode_node must not repeat a node (electrodes shorted together)")
        rs = (
            np.zeros(enode.size)
            if self.series_resistance_ohm is None
            else check_finite_array("series_resistance_ohm", self.series_resistance_ohm, ndim=1)
        )
        if rs.shape != enode.shape or np.any(rs < 0):
            raise ValidationError(
                f"series_resistance_ohm must have shape {enode.shape} with values >= 0 ohm, got {rs!r}"
            )
        for attr, val in (
            ("n_nodes", n),
            ("edges", edges),
            ("fixed_edges", fixed),
            ("fixed_conductance_S", gfix),
            ("electrode_node", enode),
            ("electrode_names", names),
            ("series_resistance_ohm", rs),
        ):
            object.__setattr__(self, attr, val)

    @property
    def n_junctions(self) -> int:
        """Number of memristive junctions."""
        return int(self.edges.shape[0])

    @property
    def n_electrodes(self) -> int:
        """Number of electrodes."""
        return int(self.electrode_node.size)

    def electrode_index(self, name: str) -> int:
        """Index of the electrode called ``name``; raises naming the known electrodes."""
        try:
            return self.electrode_names.index(name)
        except ValueError:
            raise ValidationError(
                f"electrode {name!r} not found; known electrodes: {', '.join(self.electrode_names)}"
            ) from None
