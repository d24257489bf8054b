"""The package version has one source, ``nwutil.__version__``, and every place that stores or
reports it reads it from there (:func:`nwutil.hdf5.package_version`)."""

from __future__ import annotations

import importlib.metadata

import h5py
import numpy as np
import pytest

import nwphys
import nwutil
from hardware import StarDevice
from hardware.scpi.emulator import ScpiInstrument
from nwhil import main
from nwmodel.physical._drive import Encoding
from nwmodel.physical._feature_store import _keys
from nwmodel.selection.search import EstimatorFactory, _fingerprint
from nwutil import hdf5

#: A version no release has: whatever reports it read it from nwutil.__version__ at call time.
PATCHED = "9.8.7+test"


def test_the_installed_metadata_is_the_package_version() -> None:
    # pyproject.toml reads nwutil.__version__: the installed distribution agrees with the code, and
    # nwphys.__version__ is the same string
    assert hdf5.package_version() == nwutil.__version__ == importlib.metadata.version("nanowire-hil")
    assert nwphys.__version__ == nwutil.__version__


def _stored_versions(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """The version as each consumer stores or reports it now."""
    with h5py.File("header.h5", "w", driver="core", backing_store=False) as f:
        hdf5.write_header(f, hdf5.RUN_FORMAT, 1)
        header = hdf5.attr_str(f.attrs[hdf5.PACKAGE_VERSION_ATTR])
    net = nwphys.generate(n_wires=60, size_um=(20.0, 20.0), seed=0)
    idn = ScpiInstrument(StarDevice(("a",), ("o",), ("g",), max_abs_V=1.0)).execute("*IDN?")
    with pytest.raises(SystemExit):
        main(["--version"])
    fp = _fingerprint(
        EstimatorFactory("esn", "classification", {}), None, [], "classification", 1, 0.3, 0, 1, []
    )
    return {
        "hdf5 header": header,
        "device metadata": net.metadata["package_version"],
        "emulator *IDN?": idn.decode().strip().rsplit(",", 1)[1],
        "nwhil --version": capsys.readouterr().out.split()[1],
        "selection journal": fp["package_version"],
    }


def _feature_store_key() -> str:
    from nwmodel.physical.reservoir import SimulatedDeviceSpec

    enc = Encoding(
        w_in=np.ones((2, 1)),
        bias=np.zeros(2),
        mask=np.ones((1, 2)),
        slope=1.0,
        v_bias_V=0.5,
        v_scale_V=1.0,
        dt_s=0.1,
        reset="restore",
        relax_s=1.0,
        readout="electrodes",
    )
    return _keys(SimulatedDeviceSpec(), enc)[0]


def test_every_stored_version_is_the_one_package_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    now = _stored_versions(capsys)
    assert now == dict.fromkeys(now, nwutil.__version__)
    key = _feature_store_key()
    monkeypatch.setattr(nwutil, "__version__", PATCHED)
    assert _stored_versions(capsys) == dict.fromkeys(now, PATCHED)
    assert _feature_store_key() != key  # the store's keys include the version
    monkeypatch.undo()
    assert _feature_store_key() == key
