"""Module paths from before the sub-packages keep working: the same module object, with a warning.

Each check runs in a fresh interpreter, so that no earlier import has already put the old name in
``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import hardware
import nwmodel
import nwphys

#: Every old path, from the packages' own tables.
MOVED = sorted(
    (f"{pkg.__name__}.{old}", new)
    for pkg in (nwphys, hardware, nwmodel)
    for old, new in pkg._MOVED.items()
)


def _fresh(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_old_path_is_the_new_module_with_a_warning_naming_it() -> None:
    res = _fresh(
        f"""
        import importlib, json, sys, warnings
        rows = []
        for old, new in {MOVED!r}:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                mod = importlib.import_module(old)
            real = importlib.import_module(new)
            rows.append({{
                "old": old, "same": mod is real and sys.modules[old] is real,
                "name": mod.__name__, "spec": mod.__spec__.name,
                "warnings": [(c.category.__name__, str(c.message)) for c in w],
            }})
        print(json.dumps(rows))
        """
    )
    assert len(res) == len(MOVED) >= 30
    for row, (old, new) in zip(res, MOVED, strict=True):
        assert row["same"], row
        assert row["name"] == row["spec"] == new, row  # the module keeps its own identity
        assert row["warnings"] == [
            ["DeprecationWarning", f"{old} moved to {new}; import it from there (the old path keeps working)"]
        ], row


@pytest.mark.parametrize(
    ("statement", "check"),
    [
        ("from nwphys.stepper import Stepper", "Stepper is nwphys.Stepper"),
        ("from nwmodel.compare import run_comparison", "run_comparison is nwmodel.run_comparison"),
        ("import hardware.simulated as m", "m.SimulatedDevice is hardware.SimulatedDevice"),
        ("from nwphys import hdf5", "hdf5.package_version() == nwphys.__version__"),
        ("m = nwmodel.mapping", "m.abstract_to_physical is nwmodel.abstract_to_physical"),
        # old modules that are now sub-packages export what the modules did, without a warning
        ("from nwphys.geometry import random_sticks", "random_sticks is nwphys.random_sticks"),
        ("from nwphys.circuit import Circuit", "Circuit is nwphys.Circuit"),
        ("from nwmodel.physical import SimulatedDeviceSpec",
         "SimulatedDeviceSpec is nwmodel.SimulatedDeviceSpec"),
        ("from nwmodel.selection import select_and_test", "select_and_test is nwmodel.select_and_test"),
        ("from hardware.drivers import Smu2450", "Smu2450.__module__ == 'hardware.drivers.keithley2450'"),
    ],
)
def test_old_statements_give_the_same_objects(statement: str, check: str) -> None:
    res = _fresh(
        f"""
        import json, warnings
        import hardware, nwmodel, nwphys
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            {statement}
        print(json.dumps({{"ok": bool({check}), "n_warnings": len(w)}}))
        """
    )
    assert res["ok"]
    moved = not statement.startswith("from nwphys.geometry") and not statement.startswith(
        ("from nwphys.circuit", "from nwmodel.physical", "from nwmodel.selection", "from hardware.drivers")
    )
    assert res["n_warnings"] == (1 if moved else 0)


def test_an_unknown_old_name_is_still_an_import_error() -> None:
    with pytest.raises(ModuleNotFoundError, match=r"nwphys\.no_such_module"):
        __import__("nwphys.no_such_module")
    with pytest.raises(AttributeError, match="module 'nwphys' has no attribute 'no_such_module'"):
        _ = nwphys.no_such_module
