"""Placement baselines (equal to scikit-learn / aeon run directly) and tsml-eval / aeon results files."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from _datasets import ramps_dataset
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.model_selection import train_test_split

import nwmodel.experiments.compare as cmp
from nwhil import main
from nwmodel.data.datasets import load_dataset
from nwmodel.errors import ExperimentError, ModelValidationError
from nwmodel.experiments.results_io import results_path, summary_path, write_results, write_summary
from nwmodel.models.baselines import BASELINES, RIDGE_ALPHAS, run_baselines

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _subsample(X, y, n, stratify, seed):
    Xs, _, ys, _ = train_test_split(X, y, train_size=n, stratify=y if stratify else None, random_state=seed)
    return Xs, ys


@pytest.fixture(scope="module")
def sc_split(data_dir: Path) -> tuple[np.ndarray, ...]:
    """A fixed 60 / 60 stratified split of SyntheticControl (6 classes, length 60)."""
    ds = load_dataset("SyntheticControl", data_dir=data_dir)
    return (*_subsample(ds.X_train, ds.y_train, 60, True, 0),
            *_subsample(ds.X_test, ds.y_test, 60, True, 1))


@pytest.fixture(scope="module")
def flood_split(data_dir: Path) -> tuple[np.ndarray, ...]:
    """A fixed 60 / 60 split of FloodModeling1 (regression, length 266)."""
    ds = load_dataset("FloodModeling1", data_dir=data_dir)
    return (*_subsample(ds.X_train, ds.y_train, 60, False, 0),
            *_subsample(ds.X_test, ds.y_test, 60, False, 1))


def _flat(X: np.ndarray) -> np.ndarray:
    return X.reshape(X.shape[0], -1)


# --------------------------------------------------------------------------- baselines


def test_majority_and_ridge_equal_sklearn_on_synthetic_control(sc_split) -> None:
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import RidgeClassifierCV

    Xtr, ytr, Xte, yte = sc_split
    res = run_baselines(Xtr, ytr, Xte, yte, task="classification", names=["majority", "ridge"], n_seeds=3)
    assert list(res) == ["majority", "ridge"]
    maj = accuracy_score(yte, DummyClassifier(strategy="most_frequent").fit(_flat(Xtr), ytr)
                         .predict(_flat(Xte)))
    ridge = accuracy_score(yte, RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)).fit(_flat(Xtr), ytr)
                           .predict(_flat(Xte)))
    for name, want in (("majority", maj), ("ridge", ridge)):
        r = res[name]
        assert r["metric"] == "accuracy"
        assert r["test_scores"] == [want] * 3  # deterministic: one fit stands for every seed
        assert r["test_mean"] == want and r["test_std"] == 0.0
    assert maj == pytest.approx(1 / 6, rel=1e-12)  # 10 cases of each of the 6 classes
    assert ridge > 0.5
    np.testing.assert_array_equal(RIDGE_ALPHAS, np.logspace(-3, 3, 10))


def test_minirocket_equals_aeon_with_the_same_seeds(sc_split) -> None:
    import torch
    from aeon.classification.convolution_based import MiniRocketClassifier
    from threadpoolctl import threadpool_info

    Xtr, ytr, Xte, yte = sc_split
    pools = {p["filepath"]: p["num_threads"] for p in threadpool_info()}
    res = run_baselines(Xtr, ytr, Xte, yte, task="classification", names=["minirocket"], n_seeds=2)
    res = res["minirocket"]
    # numba (MiniROCKET's transform) resizes the OpenMP pool torch shares; run_baselines restores it
    assert torch.get_num_threads() == 1
    after = {p["filepath"]: p["num_threads"] for p in threadpool_info()}
    assert {f: after[f] for f in pools} == pools
    want = [accuracy_score(yte, MiniRocketClassifier(random_state=s).fit(Xtr, ytr).predict(Xte))
            for s in (0, 1)]
    assert len(res["test_scores"]) == 2
    np.testing.assert_allclose(res["test_scores"], want, rtol=0, atol=1e-12)
    assert res["test_mean"] == pytest.approx(np.mean(want), abs=1e-12)
    assert res["test_std"] == pytest.approx(np.std(want), abs=1e-12)


def test_minirocket_leaves_a_later_torch_on_the_openmp_default(tmp_path: Path) -> None:
    """OpenMP pools first loaded during MiniROCKET get OpenMP's default, not numba's.

    In a fresh process aeon's MiniROCKET loads numba's OpenMP layer (and torch) and leaves the
    OpenMP pool at NUMBA_NUM_THREADS; torch would then run with that many threads, not with
    OMP_NUM_THREADS.
    """
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from nwmodel.models.baselines import run_baselines\n"
        "rng = np.random.default_rng(0)\n"
        "X, y = rng.normal(size=(20, 1, 40)), np.repeat([0, 1], 10)\n"
        "run_baselines(X, y, X, y, task='classification', names=['minirocket'], n_seeds=1)\n"
        "import torch\n"
        "print(torch.get_num_threads())\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_regression_baselines_equal_sklearn_on_flood_modeling(flood_split) -> None:
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import RidgeCV

    Xtr, ytr, Xte, yte = flood_split
    res = run_baselines(Xtr, ytr, Xte, yte, task="regression", names=["majority", "ridge"], n_seeds=2)
    maj = math.sqrt(mean_squared_error(yte, DummyRegressor(strategy="mean").fit(_flat(Xtr), ytr)
                                       .predict(_flat(Xte))))
    ridge = math.sqrt(mean_squared_error(yte, RidgeCV(alphas=np.logspace(-3, 3, 10)).fit(_flat(Xtr), ytr)
                                         .predict(_flat(Xte))))
    assert res["majority"]["metric"] == "rmse"
    assert res["majority"]["test_scores"] == [maj, maj] and res["majority"]["test_std"] == 0.0
    assert res["ridge"]["test_scores"] == [ridge, ridge]
    # the majority regressor predicts the training mean: RMSE by hand
    assert maj == pytest.approx(math.sqrt(np.mean((yte - ytr.mean()) ** 2)), rel=1e-12)


def test_bad_baseline_arguments_raise(sc_split) -> None:
    Xtr, ytr, Xte, yte = sc_split
    with pytest.raises(ModelValidationError, match="baseline must be one of"):
        run_baselines(Xtr, ytr, Xte, yte, task="classification", names=["lasso"])
    with pytest.raises(ModelValidationError, match="must not repeat"):
        run_baselines(Xtr, ytr, Xte, yte, task="classification", names=["ridge", "ridge"])
    with pytest.raises(ModelValidationError, match="n_seeds must be an integer"):
        run_baselines(Xtr, ytr, Xte, yte, task="classification", n_seeds=0)
    with pytest.raises(ModelValidationError, match="training length of 60 timepoints, got 59"):
        run_baselines(Xtr, ytr, Xte[:, :, :59], yte, task="classification", names=["majority"])
    with pytest.raises(ModelValidationError, match=r"y_test must have shape \(60,\)"):
        run_baselines(Xtr, ytr, Xte, yte[:5], task="classification", names=["majority"])


# --------------------------------------------------------------------------- results files


def test_results_files_have_the_tsml_layout_exactly(tmp_path: Path) -> None:
    proba = np.array([[0.75, 0.25], [0.5, 0.5], [0.0, 1.0]])
    path = write_results(tmp_path, task="classification", estimator="ESN", dataset="Toy", resample=3,
                         y_true=np.array(["b", "a", "b"]), y_pred=np.array(["a", "a", "b"]),
                         class_labels=["a", "b"], probabilities=proba, parameters='{"alpha": 1}',
                         fit_time_ms=12, predict_time_ms=3, description="test run")
    assert path == tmp_path / "ESN" / "Predictions" / "Toy" / "testResample3.csv"
    assert path.read_text() == (
        'Toy,ESN,TEST,3,MILLISECONDS,test run classes=["a", "b"]\n'
        '{"alpha": 1}\n'
        f"{2 / 3!r},12,3,-1,-1,2,,-1,-1\n"
        "1,0,,0.75,0.25\n"
        "0,0,,0.5,0.5\n"
        "1,1,,0.0,1.0\n"
    )
    y = np.array([0.1, 0.2, 0.30000000000000004])
    reg = write_results(tmp_path, task="regression", estimator="ESN", dataset="Flow", resample=0,
                        y_true=y, y_pred=y[::-1])
    mse = mean_squared_error(y, y[::-1])
    assert reg.read_text() == (
        "Flow,ESN,TEST,0,MILLISECONDS,\nNo Parameter Info\n"
        f"{mse!r},-1,-1,-1,-1,,-1,-1\n"
        "0.1,0.30000000000000004\n0.2,0.2\n0.30000000000000004,0.1\n"
    )
    # the summaries aeon reads: accuracy per dataset x resample, RMSE for regression
    s = write_summary(tmp_path, "ESN", task="regression")
    assert s == summary_path(tmp_path, "ESN", "regression") == tmp_path / "regression/rmse/ESN_rmse.csv"
    assert s.read_text() == f"Resamples:,0\nFlow,{math.sqrt(mse)!r}\n"  # the classification file left out
    c = write_summary(tmp_path, "ESN", task="classification")
    assert c.read_text() == f"Resamples:,0,1,2,3\nToy,,,,{2 / 3!r}\n"


def test_results_writer_refuses_bad_input(tmp_path: Path) -> None:
    kw = dict(task="classification", estimator="ESN", dataset="Toy", resample=0, class_labels=[1, 2])
    with pytest.raises(ModelValidationError, match=r"y_pred holds labels \[3\]"):
        write_results(tmp_path, y_true=[1, 2], y_pred=[1, 3], **kw)
    with pytest.raises(ModelValidationError, match="sum to 1 per case within 1e-6"):
        write_results(tmp_path, y_true=[1, 2], y_pred=[1, 2], probabilities=[[0.5, 0.4], [0, 1]], **kw)
    with pytest.raises(ModelValidationError, match="dataset must not contain"):
        write_results(tmp_path, y_true=[1, 2], y_pred=[1, 2], **{**kw, "dataset": "a,b"})
    with pytest.raises(ModelValidationError, match="fit_time_ms must be an integer"):
        write_results(tmp_path, y_true=[1, 2], y_pred=[1, 2], fit_time_ms=-2, **kw)
    with pytest.raises(ModelValidationError, match="regression results"):
        write_results(tmp_path, task="regression", estimator="ESN", dataset="Toy", resample=0,
                      y_true=[1.0, np.nan], y_pred=[1.0, 2.0])
    assert not (tmp_path / "ESN").exists()
    with pytest.raises(ModelValidationError, match=r"no classification results files .* of 'ESN'"):
        write_summary(tmp_path, "ESN", task="classification")


def _check_tsml_classification_file(path: Path, dataset: str, estimator: str, resample: int,
                                    n_cases: int, n_classes: int) -> float:
    """Every rule of tsml-eval's results validation and loader, checked on the text; returns the accuracy."""
    lines = path.read_text().splitlines()
    assert len(lines) == 3 + n_cases
    first = lines[0].split(",")
    assert first[:5] == [dataset, estimator, "TEST", str(resample), "MILLISECONDS"]
    third = lines[2].split(",")
    assert len(third) == 9 and third[6] == ""
    for i in (0, 1, 2, 3, 4, 5, 7, 8):
        float(third[i])
    assert int(third[5]) == n_classes and int(third[1]) >= 0 and int(third[2]) >= 0
    actual, predicted = [], []
    for line in lines[3:]:
        f = line.split(",")
        assert len(f) == 3 + n_classes and f[2] == ""
        actual.append(int(f[0]))
        predicted.append(int(f[1]))
        p = np.array([float(v) for v in f[3:]])
        assert abs(p.sum() - 1.0) <= 1e-5 and p.min() >= 0.0
        assert 0 <= actual[-1] < n_classes and 0 <= predicted[-1] < n_classes
    acc = float(third[0])
    assert accuracy_score(actual, predicted) == acc  # tsml-eval's loader asserts this equality
    return acc


def test_cli_run_with_baselines_and_results_files(data_dir: Path, tmp_path: Path, capsys,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from aeon.benchmarking import results_loaders

    res_dir = tmp_path / "tsml"
    argv = ["run", "--model", "esn", "--dataset", "SyntheticControl", "--data-dir", str(data_dir), "--grid",
            "quick", "--seeds", "2", "--baselines", "all", "--results-dir", str(res_dir), "--json",
            "--no-progress", "-o", str(tmp_path / "out")]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out["baselines"]) == list(BASELINES)
    for b in out["baselines"].values():
        assert {"test_mean", "test_std"} <= set(b) and len(b["test_scores"]) == 2
        assert 0.0 <= b["test_mean"] <= 1.0 and b["test_std"] >= 0.0
    assert out["baselines"]["majority"]["test_mean"] == pytest.approx(1 / 6, rel=1e-12)  # 50 per class
    assert out["baselines"]["majority"]["test_std"] == 0.0
    # one tsml results file per seed (resample); its accuracy is the model's test score
    files = [results_path(res_dir, "ESN", "SyntheticControl", k) for k in (0, 1)]
    assert out["results_files"] == [str(f) for f in files]
    for k, f in enumerate(files):
        acc = _check_tsml_classification_file(f, "SyntheticControl", "ESN", k, n_cases=300, n_classes=6)
        assert acc == out["test_scores"][k]
    # aeon's reader of the reference results loads the summary from the local folder
    assert out["results_summary"] == str(summary_path(res_dir, "ESN", "classification"))
    monkeypatch.setitem(results_loaders.NAME_ALIASES, "ESN", [])
    got = results_loaders.get_estimator_results("ESN", datasets=["SyntheticControl"], num_resamples=2,
                                                task="classification", measure="accuracy", path=str(res_dir))
    # aeon recomputes the accuracy from the file (a different rounding path: 1 ulp)
    np.testing.assert_allclose(got["ESN"]["SyntheticControl"], out["test_scores"], rtol=1e-15, atol=0)
    # a second run refuses to replace the results files (before any model code runs)
    argv[-1] = str(tmp_path / "out2")
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"nwhil: error: results file {str(files[0])!r} exists; pass --force to overwrite it"
    assert not (tmp_path / "out2").exists()


def test_cli_results_file_refits_use_the_selection_thread_count(tmp_path: Path, capsys,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The NW-RNN refits run on the selection's torch threads, whatever the baselines left."""
    import torch

    import nwmodel.models.baselines
    from nwhil import run

    real_baselines, real_one = nwmodel.models.baselines.run_baselines, run._write_one
    seen: list[int] = []

    def resizing_baselines(*args, **kwargs):
        torch.set_num_threads(2)  # as a library that resizes the shared OpenMP pool would
        return real_baselines(*args, **kwargs)

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_one(*args, **kwargs)

    monkeypatch.setattr(nwmodel.models.baselines, "run_baselines", resizing_baselines)
    monkeypatch.setattr(run, "_write_one", spy)
    argv = ["run", "--model", "nwrnn", "--dataset", "SyntheticControl-gen", "--seeds", "2",
            "--max-epochs", "2", "--threads", "1", "--baselines", "majority",
            "--results-dir", str(tmp_path / "tsml"), "--json", "--no-progress", "-o", str(tmp_path / "out")]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert seen == [1, 1]
    assert len(out["results_files"]) == 2  # each refit reproduced its test score
    assert torch.get_num_threads() == 2  # the refits restore the count they found


@pytest.mark.parametrize("command", [["run", "--model", "esn", "--dataset", "SyntheticControl"],
                                     ["compare", "-o", "x"]])
def test_cli_bad_baseline_name_is_a_usage_error(command: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*command, "--baselines", "ridge,lasso"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown name(s) lasso; allowed: majority,ridge,minirocket,all" in err


def test_cli_baseline_names_agree_with_the_library() -> None:
    from nwhil import run

    assert run.BASELINES == BASELINES
    assert run.baseline_names("all") == list(BASELINES)
    assert run.baseline_names("minirocket,majority") == ["majority", "minirocket"]  # table order


# --------------------------------------------------------------------------- comparison


def test_comparison_baselines_columns_rows_and_resume(tmp_path: Path) -> None:
    ds = [ramps_dataset()]
    kw = dict(grids={"esn": {"n_units": [20], "leak_rate": [0.5]}}, n_seeds=2, progress=False)
    res = cmp.run_comparison(ds, ["esn"], tmp_path, baselines=["majority", "ridge"], **kw)
    assert res.executed == ["Ramps__esn", "Ramps__majority", "Ramps__ridge"]
    data = ds[0]
    direct = run_baselines(data.X_train, data.y_train, data.X_test, data.y_test, task="classification",
                           names=["majority", "ridge"], n_seeds=2)
    table = res.baseline_table()["Ramps"]
    assert list(table) == ["majority", "ridge"]
    for name in table:
        assert table[name]["test_scores"] == direct[name]["test_scores"]
        assert table[name]["test_mean"] == direct[name]["test_mean"] and table[name]["test_std"] == 0.0
    md = Path(res.paths["markdown"]).read_text()
    assert "| dataset | metric | esn | majority | ridge |" in md
    esn = res.cells[0]
    assert f"| Ramps | accuracy ↑ | {esn.test_mean:.3f} ± {esn.test_std:.3f} | 0.500 ± 0.000 |" in md
    rows = list(csv.DictReader(open(res.paths["csv"])))
    assert [r["backend"] for r in rows] == ["esn", "majority", "ridge"]
    assert float(rows[2]["test_mean"]) == table["ridge"]["test_mean"]
    # resume: nothing reruns; another seed count is refused
    again = cmp.run_comparison(ds, ["esn"], tmp_path, baselines=["majority", "ridge"], **kw)
    assert again.executed == [] and again.baseline_table() == res.baseline_table()
    with pytest.raises(ExperimentError, match="Ramps__ridge of a different configuration"):
        cmp.run_comparison(ds, [], tmp_path, include_esn=False, baselines=["ridge"],
                           **{**kw, "n_seeds": 3})
    with pytest.raises(ModelValidationError, match="baseline must be one of"):
        cmp.run_comparison(ds, ["esn"], tmp_path, baselines=["lasso"], **kw)


def test_cli_compare_json_lists_baselines_per_dataset(data_dir: Path, tmp_path: Path, capsys) -> None:
    argv = ["compare", "--datasets", "SyntheticControl", "--backends", "esn", "--no-esn", "--seeds", "2",
            "--scheduler", "serial", "--max-train", "60", "--max-test", "60", "--data-dir", str(data_dir),
            "--baselines", "majority,ridge", "--json", "-o", str(tmp_path)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["backend"] for r in out["table"]] == ["esn"]
    assert list(out["baselines"]) == ["SyntheticControl"]
    base = out["baselines"]["SyntheticControl"]
    assert list(base) == ["majority", "ridge"]
    assert base["majority"]["test_mean"] == pytest.approx(1 / 6, rel=1e-12)  # stratified: 10 per class
    assert all(b["test_std"] == 0.0 and b["metric"] == "accuracy" for b in base.values())
    assert out["executed"] == [f"SyntheticControl__{k}" for k in ("esn", "majority", "ridge")]
    assert "| SyntheticControl | accuracy ↑ |" in Path(out["paths"]["markdown"]).read_text()
