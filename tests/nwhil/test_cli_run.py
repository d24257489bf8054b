"""``nwhil run``: quick grid on SyntheticControl, saved JSON, one-line errors."""

from __future__ import annotations

import json

import pytest

from nwhil import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(model: str, dataset: str, out, *extra: str) -> int:
    """``nwhil run --model MODEL --dataset DATASET *extra -o OUT``."""
    return main(["run", "--model", model, "--dataset", dataset, *extra, "-o", str(out)])


def test_run_quick_grid_on_synthetic_control(data_dir, tmp_path, capsys) -> None:
    extra = ("--data-dir", str(data_dir), "--grid", "quick", "--seeds", "2", "--no-progress")
    assert _run("esn", "SyntheticControl", tmp_path, *extra) == 0
    out = capsys.readouterr().out
    assert "best configuration:" in out and "test accuracy:" in out
    record = json.loads((tmp_path / "run_esn_SyntheticControl_quick_tuned.json").read_text())
    # the tuned protocol (default): 2 leak rates x 6 readout feature sets
    assert record["metric"] == "accuracy" and record["n_configs"] == 12 and len(record["test_scores"]) == 2
    assert record["protocol"] == "tuned"
    assert record["best_params"]["leak_rate"] in (0.1, 0.5)
    assert 0.5 < record["test_mean"] <= 1.0  # chance = 1/6


def test_split_seed_changes_the_validation_split_only(data_dir, tmp_path, capsys) -> None:
    extra = ("--data-dir", str(data_dir), "--grid", "quick", "--seeds", "1", "--no-progress")
    assert _run("esn", "SyntheticControl", tmp_path, *extra) == 0
    assert _run("esn", "SyntheticControl", tmp_path, *extra, "--split-seed", "0") == 0
    default = json.loads((tmp_path / "run_esn_SyntheticControl_quick_tuned.json").read_text())
    other = json.loads((tmp_path / "run_esn_SyntheticControl_quick_split0_tuned.json").read_text())
    assert (default["split_seed"], other["split_seed"]) == (42, 0)
    # another split: other validation scores; the configurations and the test split are the same
    assert [v["params"] for v in default["val_scores"]] == [v["params"] for v in other["val_scores"]]
    assert [v["score"] for v in default["val_scores"]] != [v["score"] for v in other["val_scores"]]
    assert default["n_test"] == other["n_test"] == 300


def test_run_json_output_and_progress_bar(data_dir, tmp_path, capsys) -> None:
    extra = ("--data-dir", str(data_dir), "--seeds", "1", "--json")
    assert _run("nwesn", "SyntheticControl", tmp_path, *extra) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert record["model"] == "nwesn" and record["dataset"] == "SyntheticControl"
    assert set(record["best_params"]) >= {"gamma", "dt", "slope", "spectral_radius"}
    assert "selection" in captured.err  # tqdm progress on stderr


@pytest.mark.slow
def test_run_nwrnn_quick(tmp_path, capsys) -> None:
    rc = _run("nwrnn", "SyntheticControl-gen", tmp_path, "--seeds", "1", "--max-epochs", "2", "--no-progress")
    assert rc == 0
    record = json.loads((tmp_path / "run_nwrnn_SyntheticControl-gen_quick.json").read_text())
    assert record["best_params"]["max_epochs"] == 2


def test_unknown_dataset_is_one_line_error(tmp_path, capsys) -> None:
    assert _run("esn", "Nope", tmp_path, "--data-dir", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nwhil: error: unknown dataset 'Nope'") and "\n" not in err


def test_bad_seeds_and_max_epochs_misuse(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:  # a bad count is a usage error (exit 2)
        _run("esn", "NARMA10", tmp_path, "--seeds", "0")
    assert exc.value.code == 2
    assert "argument --seeds: expected an integer >= 1, got 0" in capsys.readouterr().err
    assert _run("esn", "NARMA10", tmp_path, "--max-epochs", "3") == 2
    assert "--max-epochs applies to" in capsys.readouterr().err


def test_workers_and_scheduler_misuse(tmp_path, capsys) -> None:
    assert _run("esn", "NARMA10", tmp_path, "--scheduler", "serial", "--workers", "2") == 2
    assert "--workers 2 needs Dask" in capsys.readouterr().err
    assert _run("esn", "NARMA10", tmp_path, "--scheduler", "localhost:1") == 2
    assert "--scheduler must be 'serial' or an address" in capsys.readouterr().err
