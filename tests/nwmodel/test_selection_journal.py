"""The selection journal: an interrupted selection resumes to the result of an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import ClassVar

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from nwmodel.errors import ExperimentError, JournalError, ModelError, ModelValidationError
from nwmodel.selection.search import select_and_test


class Noisy(BaseEstimator):
    """Answers the label hidden in X[:, 0, 0] for a seed-dependent share of the cases (rest: 0)."""

    fits: ClassVar[list[tuple[float, int]]] = []  # (skill, seed) of every fit, in order
    stop_after: ClassVar[int | None] = None  # raise KeyboardInterrupt at this fit (counted over the class)

    def __init__(self, skill: float = 1.0, fail: bool = False, random_state: int = 0):
        self.skill = skill
        self.fail = fail
        self.random_state = random_state

    def fit(self, X, y):
        if Noisy.stop_after is not None and len(Noisy.fits) >= Noisy.stop_after:
            raise KeyboardInterrupt  # a Ctrl-C in the middle of the selection
        Noisy.fits.append((self.skill, self.random_state))
        if self.fail:
            raise ModelError("diverged on purpose")
        return self

    def predict(self, X):
        rng = np.random.default_rng(self.random_state)
        share = self.skill * rng.uniform(0.7, 1.0)
        out = X[:, 0, 0].copy()
        out[round(share * len(out)) :] = 0
        return out


KEY = {"estimator": "Noisy"}
GRID = [{"skill": [0.3, 0.9, 0.6]}, {"fail": [True]}]


def _data(n=80):
    rng = np.random.default_rng(0)
    y = np.repeat([0.0, 1.0, 2.0, 3.0], n // 4)
    return np.concatenate([y[:, None, None], rng.standard_normal((n, 1, 4))], axis=2), y


def _select(journal, grid=GRID, data=None, **kw):
    X, y = data if data is not None else _data()
    return select_and_test(
        lambda p, s: Noisy(**p, random_state=s),
        grid,
        X,
        y,
        X,
        y,
        task="classification",
        n_seeds=3,
        journal=journal,
        journal_key=KEY,
        **kw,
    )


@pytest.fixture(autouse=True)
def _reset_counts():
    Noisy.fits, Noisy.stop_after = [], None
    yield
    Noisy.fits, Noisy.stop_after = [], None


def _same(a, b) -> None:
    assert a.best_params == b.best_params and a.val_score == b.val_score
    assert [s for _, s in a.val_scores][:3] == [s for _, s in b.val_scores][:3]
    assert np.isnan(a.val_scores[3][1]) and np.isnan(b.val_scores[3][1])
    assert a.test_scores == b.test_scores and a.failures == b.failures


def test_journaled_selection_equals_plain_and_replays_without_fitting(tmp_path) -> None:
    plain = _select(None)
    n_plain = len(Noisy.fits)
    assert n_plain == 4 * 3 + 3
    Noisy.fits = []
    path = tmp_path / "sel.journal.jsonl"
    logged = _select(path)
    _same(logged, plain)
    assert logged.n_resumed == 0 and len(Noisy.fits) == n_plain
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["format"] == "nwhil-selection-journal"
    assert len(lines) == 1 + n_plain  # one line per fit (no stacks for a non-RNN estimator)
    assert sum(json.loads(x)["phase"] == "test" for x in lines[1:]) == 3
    Noisy.fits = []
    again = _select(path)
    _same(again, plain)
    assert Noisy.fits == [] and again.n_resumed == n_plain
    assert again.wall_time_s == pytest.approx(logged.wall_time_s)


@pytest.mark.parametrize("stop_after", [1, 5, 13])  # in the selection; ditto; in the test refits
def test_interrupted_selection_resumes_to_the_uninterrupted_result(tmp_path, stop_after) -> None:
    plain = _select(None)
    Noisy.fits = []
    path = tmp_path / "sel.journal.jsonl"
    Noisy.stop_after = stop_after
    with pytest.raises(KeyboardInterrupt):
        _select(path)
    assert len(path.read_text().splitlines()) == 1 + stop_after
    Noisy.fits, Noisy.stop_after = [], None
    resumed = _select(path)
    _same(resumed, plain)
    assert resumed.n_resumed == stop_after
    assert len(Noisy.fits) == 4 * 3 + 3 - stop_after  # only the missing fits ran


def test_cut_last_line_is_dropped_and_a_corrupt_line_is_refused(tmp_path) -> None:
    plain = _select(None)
    path = tmp_path / "sel.journal.jsonl"
    Noisy.stop_after = len(Noisy.fits) + 4
    with pytest.raises(KeyboardInterrupt):
        _select(path)
    Noisy.stop_after = None
    with open(path, "a") as fh:
        fh.write('{"phase": "val", "wall_s": 0.1, "fits": [[2, 0, 0.')  # a kill during the append
    resumed = _select(path)
    _same(resumed, plain)
    assert resumed.n_resumed == 4
    with open(path, "a") as fh:
        fh.write("not json\n")
    with pytest.raises(ExperimentError, match=r"sel.journal.jsonl' line 17 is not a group record"):
        _select(path)


def test_journal_of_another_experiment_is_refused(tmp_path) -> None:
    path = tmp_path / "sel.journal.jsonl"
    _select(path)
    X, y = _data()
    with pytest.raises(ExperimentError, match=r"belongs to another experiment \(differs in configs\)"):
        _select(path, grid={"skill": [0.3]})
    with pytest.raises(ExperimentError, match=r"differs in data\)"):
        _select(path, data=(X + 1e-9, y))
    with pytest.raises(ExperimentError, match=r"differs in random_state\)"):
        _select(path, random_state=0)
    path.write_text("{}\n")
    with pytest.raises(ExperimentError, match="is not a selection journal"):
        _select(path)


def test_another_key_or_stack_size_is_refused_and_a_foreign_file_left_intact(tmp_path) -> None:
    path = tmp_path / "sel.journal.jsonl"
    _select(path)
    X, y = _data()
    common = dict(task="classification", n_seeds=3, journal=path)
    with pytest.raises(JournalError, match=r"differs in journal_key\)"):
        make = lambda p, s: Noisy(**p, random_state=s)  # noqa: E731
        select_and_test(make, GRID, X, y, X, y, journal_key={"x": 1}, **common)
    with pytest.raises(JournalError, match=r"differs in stack_size\)"):
        _select(path, stack_size=2)
    other = tmp_path / "results.json"
    other.write_text('{"some": "results"}')  # no newline at the end: not a cut journal line
    with pytest.raises(JournalError, match="is not a selection journal"):
        _select(other)
    assert other.read_text() == '{"some": "results"}'


def test_a_journal_in_use_is_refused(tmp_path) -> None:
    from nwmodel.selection._journal import SelectionJournal

    path = tmp_path / "sel.journal.jsonl"
    with SelectionJournal(path, {"a": 1}) as held:
        with pytest.raises(JournalError, match="is in use by another process"):
            SelectionJournal(path, {"a": 1})
        held.record("val", [(0, 0, 0.5, "")], 1.0)
    with SelectionJournal(path, {"a": 1}) as again:
        assert again.done == {("val", 0, 0): (0.5, "")} and again.wall_s == 1.0


def test_journal_needs_a_key_for_a_plain_callable(tmp_path) -> None:
    X, y = _data()
    with pytest.raises(ModelValidationError, match="journal_key: required"):
        select_and_test(
            lambda p, s: Noisy(**p, random_state=s),
            GRID,
            X,
            y,
            X,
            y,
            task="classification",
            n_seeds=1,
            journal=tmp_path / "j.jsonl",
        )


# --------------------------------------------------------------------------- nwhil run


def _cli(out, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "nwhil",
        "run",
        "--model",
        "nwrnn",
        "--dataset",
        "SyntheticControl-gen",
        "--grid",
        "paper",
        "--seeds",
        "1",
        "--max-epochs",
        "2",
        "--stack-size",
        "1",
        "--threads",
        "1",
        "--no-progress",
        "-o",
        str(out),
        *extra,
    ]


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")
def test_nwhil_run_killed_mid_selection_resumes_to_the_same_record(tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref, out = tmp_path / "ref", tmp_path / "out"
    subprocess.run(_cli(ref), check=True, timeout=600, env=env, capture_output=True)
    name = "run_nwrnn_SyntheticControl-gen_paper"
    journal = out / f"{name}.journal.jsonl"
    with open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen(_cli(out), stdout=subprocess.DEVNULL, stderr=err, env=env)
        deadline = time.monotonic() + 300
        n_lines = 0
        while time.monotonic() < deadline and n_lines < 1 + 8 and proc.poll() is None:
            time.sleep(0.02)  # wait until 8 of the 65 fits are journaled
            n_lines = len(journal.read_text().splitlines()) if journal.exists() else 0
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert n_lines >= 1 + 8, (tmp_path / "stderr.txt").read_text()
    assert not (out / f"{name}.json").exists()

    done = subprocess.run(_cli(out), capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    assert "fits from the journal of an interrupted run" in done.stdout
    assert not journal.exists()  # deleted once the record is written
    a = json.loads((ref / f"{name}.json").read_text())
    b = json.loads((out / f"{name}.json").read_text())
    assert b["resumed_fits"] >= 8 and a["resumed_fits"] == 0
    for k in ("val_scores", "best_params", "val_score", "test_scores", "test_mean", "failures"):
        assert a[k] == b[k], k


def test_nwhil_run_force_discards_a_journal(tmp_path, capsys) -> None:
    from nwhil import main

    out = tmp_path / "out"
    out.mkdir()
    journal = out / "run_esn_NARMA10_quick_tuned.journal.jsonl"
    journal.write_text("{}\n")  # a foreign journal: refused without --force, and left as it was
    args = ["run", "--model", "esn", "--dataset", "NARMA10", "--seeds", "1", "--no-progress", "-o", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "is not a selection journal" in err and "--force discards it" in err and err.count("\n") == 1
    assert journal.read_text() == "{}\n"
    assert main([*args, "--force"]) == 0
    assert not journal.exists() and (out / "run_esn_NARMA10_quick_tuned.json").exists()


def test_nwhil_run_resumes_an_interrupted_force_rerun_over_its_result(tmp_path, capsys, monkeypatch) -> None:
    from nwhil import main
    from nwmodel.selection import search as selection
    out = tmp_path / "out"
    args = ["run", "--model", "esn", "--dataset", "NARMA10", "--seeds", "1", "--protocol", "paper",
            "--no-progress", "-o", str(out)]  # paper: one fit per journal record
    assert main(args) == 0
    result = out / "run_esn_NARMA10_quick.json"
    first = json.loads(result.read_text())
    evaluate, calls = selection._evaluate, []

    def interrupted(*a, **k):  # Ctrl-C during the second fit of the --force rerun
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return evaluate(*a, **k)

    monkeypatch.setattr(selection, "_evaluate", interrupted)
    assert main([*args, "--force"]) == 130
    monkeypatch.setattr(selection, "_evaluate", evaluate)
    assert len((out / "run_esn_NARMA10_quick.journal.jsonl").read_text().splitlines()) == 2
    capsys.readouterr()
    assert main(args) == 0  # no --force: resumes the rerun and replaces its result
    assert "resumed 1 fits from the journal" in capsys.readouterr().out
    again = json.loads(result.read_text())
    assert again["resumed_fits"] == 1 and first["resumed_fits"] == 0
    for k in ("val_scores", "best_params", "test_scores"):
        assert again[k] == first[k], k


@pytest.mark.slow
def test_nwhil_run_on_two_dask_workers_equals_the_serial_run(tmp_path, monkeypatch) -> None:
    from nwhil import main
    from nwmodel.selection import search as selection
    lines: list[str] = []
    record = selection.SelectionJournal.record

    def spy(self, phase, fits, wall_s):  # one journal line per finished stack, on Dask too
        record(self, phase, fits, wall_s)
        lines.append(phase)

    monkeypatch.setattr(selection.SelectionJournal, "record", spy)
    args = ["run", "--model", "rnn", "--dataset", "SyntheticControl-gen", "--grid", "paper"]
    args += ["--seeds", "2", "--max-epochs", "3", "--stack-size", "2", "--threads", "1", "--no-progress"]
    assert main([*args, "-o", str(tmp_path / "serial")]) == 0
    n_serial = len(lines)
    assert main([*args, "--workers", "2", "-o", str(tmp_path / "dask")]) == 0
    assert n_serial == len(lines) - n_serial == 4 + 1  # 4 configs x 2 seeds in stacks of 2; 1 test stack
    name = "run_rnn_SyntheticControl-gen_paper.json"
    a = json.loads((tmp_path / "serial" / name).read_text())
    b = json.loads((tmp_path / "dask" / name).read_text())
    for k in ("val_scores", "best_params", "test_scores"):
        assert a[k] == b[k], k
