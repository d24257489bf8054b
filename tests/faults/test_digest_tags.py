"""Stored content digests survive a move of their classes: circuits and waveforms carry fixed tags.

Run files store ``circuit_sha256`` and the drive's digest, and a run resumes only when they match.
The digests below are those that run files already written hold (each class entered under its
``module.qualname``), so those files resume.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pytest

from nwphys._digest import class_tag, sha256_of
from nwphys.circuit.circuit import Circuit
from nwphys.dynamics import drives
from nwphys.errors import ValidationError

#: SHA-256 of each object, as the digest encoded it when every tag was ``module.qualname``.
STORED = {
    "circuit": "d2d05d3ba69cd5b493726651a3edd0cdf3aa5f21073c558f65cb8b687e598bd7",
    "dc": "1450154d3ccdb4b604f040df661b38e0a44d64ad496a43fbadaf7cc868e8da60",
    "pulse": "e656bbcc599fc86fc0336dbae097f5d04558e7097ac8d8d93b55e4b59439c6ff",
    "sine": "db81b82767f16d10c48dc1207dbfc52783c65dbcf47a1ae7f602870e943c8b35",
    "pwl": "be6b665424ff676133a65b2a6bb107071e868c7e64de3b222e4ed7685e7b955b",
    "sampled": "e6f2264211c17ac4f435fc9ab09f246f38e1e5d9556cecec6a599a3bade81ad3",
    "drive": "91804dea8f4b1e3716942120b49af978b9992d2efb2aef888fe5747acacd2c5f",
}


def _objects() -> dict[str, object]:
    return {
        "circuit": Circuit(
            n_nodes=3, edges=np.array([[0, 1], [1, 2]]), electrode_node=[0, 2], electrode_names=("in", "out")
        ),
        "dc": drives.DC(0.5),
        "pulse": drives.Pulse(2.0, 0.05, 0.1),
        "sine": drives.Sine(1.0, 3.0),
        "pwl": drives.PiecewiseLinear((0.0, 1.0), (0.0, 2.0)),
        "sampled": drives.Sampled(np.array([0.0, 1.0, -1.0]), 0.01),
    }


@pytest.mark.parametrize("name", ["circuit", "dc", "pulse", "sine", "pwl", "sampled"])
def test_digests_of_stored_kinds_are_those_of_files_already_written(name: str) -> None:
    assert sha256_of(_objects()[name]) == STORED[name]


def test_a_drive_digest_is_the_one_already_stored() -> None:
    drive = drives.parse_drive("in=pulse:amp=2,width=0.05,period=0.1;out=gnd")
    assert drive.digest() == STORED["drive"]


def test_a_moved_class_with_its_tag_keeps_the_digest_and_without_it_does_not() -> None:
    @dataclasses.dataclass(frozen=True)
    class DC:  # the same fields, defined in another module (this test's)
        DIGEST_TAG: ClassVar[str] = "nwphys.drives.DC"
        value_V: float = 0.0

    @dataclasses.dataclass(frozen=True)
    class Untagged:
        value_V: float = 0.0

    assert sha256_of(DC(0.5)) == STORED["dc"]
    assert sha256_of(Untagged(0.5)) != STORED["dc"]
    assert class_tag(Untagged) == f"{__name__}.{Untagged.__qualname__}"


def test_a_subclass_does_not_inherit_its_base_tag() -> None:
    @dataclasses.dataclass(frozen=True)
    class Shifted(drives.DC):
        offset_V: float = 0.0

    assert class_tag(Shifted).endswith("Shifted") and class_tag(drives.DC) == "nwphys.drives.DC"


def test_a_bad_tag_is_refused_naming_the_class() -> None:
    class Bad:
        DIGEST_TAG = ""

    with pytest.raises(ValidationError, match=r"Bad\.DIGEST_TAG must be a non-empty str"):
        class_tag(Bad)
