"""The ``nwhil`` command line: help, version, and one-line errors with the right exit codes."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

import nwhil
from nwhil import main


def _nwhil(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nwhil", *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_every_command_module_and_each_one_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    # one "<name>  <help>" row per subcommand
    listed = re.findall(r"^ {4}(\w+) +(\S.*)$", out, flags=re.MULTILINE)
    # every command module of the package (not its private helpers) is listed, and nothing else
    modules = {p.stem for p in Path(nwhil.__file__).parent.glob("*.py") if not p.stem.startswith("_")}
    assert sorted(name for name, _ in listed) == sorted(modules)
    # each listed command answers its own --help, whose description is the row's help
    for name, help_ in listed:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        own = capsys.readouterr().out
        assert own.startswith(f"usage: nwhil {name} ")
        assert help_ in " ".join(own.split())


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"nwhil {importlib.metadata.version('nanowire-hil')}\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        ["--no-such-option"],
        ["device", "--bogus"],
        ["run", "--model", "nwesn", "--dataset", "SyntheticControl", "--seeds", "0"],
        ["compare", "--workers", "two", "-o", "x"],
        ["device", "generate", "--wires", "-5", "--seed", "1", "-o", "x.h5"],
    ],
)
def test_usage_error_is_one_line_exit_2(argv: list[str]) -> None:
    proc = _nwhil(*argv)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("nwhil") and "error" in lines[0]
    assert "Traceback" not in proc.stderr


def test_domain_error_is_one_line_exit_1(tmp_path) -> None:
    proc = _nwhil("bench", "--dir", str(tmp_path / "missing"))
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("nwhil: error: benchmark directory not found")
    assert "Traceback" not in proc.stderr
