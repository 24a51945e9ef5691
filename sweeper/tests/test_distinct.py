"""Distinct trials (distinct.py): a resumed or concurrent seeded sweep never replays an earlier
sweep's random stream, a fresh seeded sweep samples as it always did, and a parameter set that
a taken trial has is sampled again (then drawn at random) unless ``allow_duplicates``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from hydra_plugins.fmnist_optuna_sweeper.distinct import (
    DUPLICATE,
    derived_seed,
    duplicate_of,
    seed_of,
)
from hydra_plugins.fmnist_optuna_sweeper.stale import never_started
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

SLEEPY = Path(__file__).resolve().parents[1] / "example" / "sleepy" / "app.py"
TPE = ["hydra/sweeper/sampler=tpe", "hydra.sweeper.sampler.seed=42"]
#: the duplicate check (off by default, as in the official plugin; on in fmnist's presets)
DISTINCT = "hydra.sweeper.allow_duplicates=false"


def _command(tmp_path: Path, db: Path, *overrides: str) -> list[str]:
    return [sys.executable, str(SLEEPY), "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}",
            f"hydra.sweeper.storage=sqlite:///{db}", "hydra.sweeper.n_jobs=1", "seconds=0", *overrides]


def _run(tmp_path: Path, db: Path, *overrides: str) -> str:
    proc = subprocess.run(_command(tmp_path, db, *overrides), cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout + proc.stderr


def _trials(db: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="sleepy", storage=f"sqlite:///{db}").get_trials()


def _ran(db: Path) -> list[float]:
    return [t.params["x"] for t in _trials(db) if t.state == TrialState.COMPLETE]


# ----------------------------------------------------------------------------- sweeps


def test_a_fresh_seeded_sweep_is_reproducible(tmp_path: Path) -> None:
    runs = [_ran(db) for db in (tmp_path / "a.db", tmp_path / "b.db")
            if _run(tmp_path, db, *TPE, DISTINCT, "hydra.sweeper.n_trials=3") is not None]
    assert runs[0] == runs[1] and len(set(runs[0])) == 3
    # the seed itself, as before: TPE's first (random) sample with seed 42
    assert runs[0][0] == pytest.approx(-2.50919762305275)


def test_resuming_a_seeded_study_samples_new_parameters(tmp_path: Path) -> None:
    db = tmp_path / "study.db"
    for n_trials in (3, 6, 9):  # fewer than TPE's 10 random startup trials: all from its stream
        _run(tmp_path, db, *TPE, DISTINCT, f"hydra.sweeper.n_trials={n_trials}")
    assert len(set(_ran(db))) == len(_ran(db)) == 9


def _concurrent(tmp_path: Path, db: Path, n_trials: int, sweeps: int = 3) -> None:
    """``sweeps`` sweeps of one study at once; ``n_trials`` counts the study's trials, so
    together they run ``n_trials`` (each about its share)."""
    procs = [subprocess.Popen(_command(tmp_path, db, *TPE, DISTINCT, f"hydra.sweeper.n_trials={n_trials}",
                                       f"hydra.sweep.dir={tmp_path / f'sweep{i}'}"),
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(sweeps)]
    for proc in procs:
        out = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, out[-3000:]


def test_concurrent_sweeps_of_one_study_sample_distinct_parameters(tmp_path: Path) -> None:
    db = tmp_path / "study.db"
    _concurrent(tmp_path, db, n_trials=9)
    ran = _ran(db)
    assert len(ran) == 9 and len(set(ran)) == 9


@pytest.mark.slow  # ~11 to 22 s (the 9-trial test above is the quick one)
def test_three_concurrent_sweeps_of_ten_trials_then_a_resumed_one_sample_distinct_parameters(
        tmp_path: Path) -> None:
    """Past TPE's 10 random startup trials too: a continuous space, no parameter set twice."""
    db = tmp_path / "study.db"
    _concurrent(tmp_path, db, n_trials=30)
    ran = _ran(db)
    assert len(ran) == 30 and len(set(ran)) == 30
    complete = [t for t in _trials(db) if t.state == TrialState.COMPLETE]
    assert {Path(t.user_attrs["run_dir"]).parent.name for t in complete} == {"sweep0", "sweep1", "sweep2"}
    _run(tmp_path, db, *TPE, DISTINCT, "hydra.sweeper.n_trials=40")
    ran = _ran(db)
    assert len(ran) == 40 and len(set(ran)) == 40


def test_duplicates_in_a_tiny_space_are_sampled_again_then_drawn_at_random(tmp_path: Path) -> None:
    db = tmp_path / "study.db"
    out = _run(tmp_path, db, *TPE, DISTINCT, "hydra.sweeper.params.x='choice(1,2)'",
               "hydra.sweeper.n_trials=3", "hydra.sweeper.max_failure_rate=0.0")
    trials = _trials(db)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3  # n_trials still met: a third point does not exist
    assert {t.params["x"] for t in complete[:2]} == {1, 2}  # the first two differ
    resampled = [t for t in trials if t.state == TrialState.FAIL]
    assert resampled and all(never_started(t) and t.user_attrs["error"].startswith(DUPLICATE)
                             for t in resampled)
    assert "drawing them at random" in out and "running it" in out

    allowed = tmp_path / "allowed.db"
    _run(tmp_path, allowed, *TPE, "hydra.sweeper.params.x='choice(1,2)'", "hydra.sweeper.n_trials=3",
         "hydra.sweeper.allow_duplicates=true")
    assert [t.state for t in _trials(allowed)] == [TrialState.COMPLETE] * 3


# ----------------------------------------------------------------------------- the pieces, pure


@pytest.mark.parametrize(("seed", "taken", "expected"), [(42, 0, 42), (0, 0, 0), (7, 0, 7)])
def test_a_fresh_study_keeps_its_seed(seed: int, taken: int, expected: int) -> None:
    assert derived_seed(seed, taken) == expected


def test_derived_seeds_differ_and_repeat() -> None:
    seeds = {derived_seed(s, t) for s in (0, 1, 42) for t in range(0, 50)}
    assert len(seeds) == 150 and all(0 <= s < 2**32 for s in seeds)
    assert derived_seed(42, 3) == derived_seed(42, 3)
    with pytest.raises(ValueError, match="taken must be >= 0, got taken=-1"):
        derived_seed(42, -1)


@pytest.mark.parametrize(("cfg", "seed"), [
    ({"_target_": "optuna.samplers.TPESampler", "seed": 42}, 42),
    ({"_target_": "optuna.samplers.TPESampler", "seed": None}, None),
    ({"_target_": "optuna.samplers.TPESampler", "seed": True}, None),
    ({"_target_": "optuna.samplers.GridSampler", "seed": 1}, None),  # exempt
    ({"_target_": "optuna.samplers.BruteForceSampler", "seed": 1}, None),
    (optuna.samplers.RandomSampler(seed=1), None),  # an object: cannot be built again
])
def test_seed_of(cfg: object, seed: int | None) -> None:
    assert seed_of(cfg) == seed


def _trial(number: int, x: float, state: TrialState, **attrs: object) -> optuna.trial.FrozenTrial:
    t = create_trial(params={"x": x}, distributions={"x": FloatDistribution(0, 10)},
                     value=None if state != TrialState.COMPLETE else 1.0, state=state,
                     user_attrs=dict(attrs))
    t.number, t._trial_id = number, number + 100
    return t


@pytest.mark.parametrize(("trials", "twin"), [
    ([], None),
    ([_trial(0, 1.0, TrialState.COMPLETE)], 0),
    ([_trial(0, 1.5, TrialState.COMPLETE)], None),
    ([_trial(0, 1.0, TrialState.PRUNED)], 0),
    ([_trial(0, 1.0, TrialState.RUNNING)], 0),  # another sweep's, in flight
    ([_trial(0, 1.0, TrialState.FAIL)], None),  # failed: may run again
    ([_trial(0, 1.0, TrialState.WAITING)], None),
    ([_trial(5, 1.0, TrialState.RUNNING)], None),  # itself
])
def test_duplicate_of(trials: list[optuna.trial.FrozenTrial], twin: int | None) -> None:
    assert duplicate_of({"x": 1.0}, 105, trials) == twin
