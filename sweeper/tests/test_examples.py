"""The example apps swept end to end (a subprocess each, under ``-W error``): what the
official plugin's tests check (sphere, grid, multi-objective, custom search space, failure
rate, sampler groups) plus ours (conditional parameters, resume, parallel workers)."""

from __future__ import annotations

import importlib.util

import optuna
import pytest
from optuna.trial import TrialState


def _study(sweep, name: str | None = None) -> optuna.Study:
    results = sweep.results
    return optuna.load_study(study_name=name or results["study_name"], storage=results["storage"])


def test_sphere_with_tpe_writes_the_official_results(sweep) -> None:
    s = sweep("sphere.py")
    results, study = s.results, _study(s)
    assert results["name"] == "optuna" and len(study.trials) == 20
    assert results["best_params"] == study.best_params and results["best_value"] == study.best_value
    assert results["best_value"] <= 2.5
    x = results["best_params"]["x"]
    assert -5.5 <= x <= 5.5 and (x * 2) % 1 == 0  # range(-5.5, 5.5, step=0.5): a stepped float
    assert isinstance(study.trials[0].distributions["x"], optuna.distributions.FloatDistribution)
    assert study.trials[0].distributions["x"].step == 0.5


SAMPLERS = [
    ("random", "RandomSampler", None),
    ("cmaes", "CmaEsSampler", "cmaes"),
    ("qmc", "QMCSampler", None),
    ("gp", "GPSampler", "torch"),
]


@pytest.mark.parametrize(("option", "cls", "needs"), SAMPLERS)
def test_sampler_groups(sweep, option: str, cls: str, needs: str | None) -> None:
    if needs and importlib.util.find_spec(needs) is None:
        pytest.skip(f"{cls} needs the {needs!r} package")
    s = sweep("sphere.py", f"hydra/sweeper/sampler={option}", "hydra.sweeper.n_trials=4",
              "x=interval(-5.5, 5.5)")
    assert f"sampler {cls}" in s.output
    assert len(_study(s).trials) == 4


def test_grid_ends_cleanly_with_n_trials_capped(sweep) -> None:
    s = sweep("sphere.py", "--config-name", "grid")
    study = _study(s)
    assert len(study.trials) == 12 and all(t.state == TrialState.COMPLETE for t in study.trials)
    assert {(t.params["x"], t.params["y"], t.params["z"]) for t in study.trials} == {
        (x, y, z) for x in (-1, 1) for y in (-1.0, 0.0, 1.0) for z in ("foo", "bar")}
    assert "Capping n_trials at 12" in s.output
    results = s.results
    assert results["best_value"] == 1 and results["best_params"]["y"] == 0


def test_multi_objective_gives_solutions(sweep) -> None:
    s = sweep("multi_objective.py")
    solutions, study = s.results["solutions"], _study(s)
    assert {tuple(sol["values"]) for sol in solutions} == {tuple(t.values) for t in study.best_trials}
    for sol in solutions:
        assert sol["params"]["x"] % 0.5 == 0 and sol["params"]["y"] % 0.5 == 0
        for other in solutions:  # nothing in the set dominates another member
            assert not all(a <= b for a, b in zip(other["values"], sol["values"], strict=True)) or \
                other["values"] == sol["values"]


def test_custom_search_space_hook(sweep) -> None:
    s = sweep("custom_search_space.py")
    for t in _study(s).trials:
        assert abs(t.params["z"] - t.params["x"]) <= 0.5 and 0 <= t.params["+w"] <= 1
    assert "+w" in s.results["best_params"]


def test_conditional_parameters(sweep) -> None:
    s = sweep("conditional.py")
    trials = _study(s).trials
    for t in trials:
        expected = {"optim.name", "adam_lr"} if t.params["optim.name"] == "adam" else {
            "optim.name", "sgd_lr", "optim.momentum"}
        assert set(t.params) == expected
    assert {t.params["optim.name"] for t in trials} == {"adam", "sgd"}


@pytest.mark.parametrize(("rate", "n_trials"), [(0.0, 1), (0.5, 1)])
def test_failure_rate_stops_the_sweep(sweep, rate: float, n_trials: int) -> None:
    s = sweep("sphere.py", "error=true", f"hydra.sweeper.max_failure_rate={rate}", check=False)
    assert s.proc.returncode != 0 and "RuntimeError: cfg.error is true" in s.proc.stderr
    assert f"max_failure_rate={rate}" in s.proc.stderr
    assert len(_study(s).trials) == n_trials


def test_a_sweep_whose_trials_all_fail_at_rate_one_ends_normally(sweep) -> None:
    """max_failure_rate=1.0: failures neither stop nor fail the sweep (as the official plugin);
    the log still says that every trial failed, with the last error."""
    s = sweep("sphere.py", "error=true", "hydra.sweeper.max_failure_rate=1.0",
              "hydra.sweeper.n_trials=3")
    assert "all 3 trials of this sweep failed; last error: RuntimeError: cfg.error is true" in s.output
    assert [t.state for t in _study(s).trials] == [TrialState.FAIL] * 3


def test_named_study_resumes_and_heartbeat_can_be_off(sweep, tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'o.db'}"
    common = ("hydra.sweeper.study_name=s", f"hydra.sweeper.storage={storage}",
              "hydra.sweeper.heartbeat_interval=null")
    sweep("sphere.py", "hydra.sweeper.n_trials=3", *common)
    sweep("sphere.py", "hydra.sweeper.n_trials=5", *common)
    assert [t.number for t in optuna.load_study(study_name="s", storage=storage).trials] == list(range(5))
    # other fixed settings: refused before any trial, with what changed and how to go on
    s = sweep("sphere.py", "hydra.sweeper.n_trials=6", "y=2", *common, check=False)
    assert s.proc.returncode != 0
    assert "was started with other fixed settings: y: (unset) -> 2" in s.proc.stderr
    assert "hydra.sweeper.accept_changed_settings=true" in s.proc.stderr
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 5


def test_parallel_workers_from_a_script(sweep) -> None:
    s = sweep("sphere.py", "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4")
    study = _study(s)
    assert len(study.trials) == 4 and all(t.state == TrialState.COMPLETE for t in study.trials)
    assert all((s.dir / str(t.number) / "optuna_result.json").exists() for t in study.trials)


def test_custom_search_space_relative_to_the_script(sweep, tmp_path) -> None:
    """The official examples name the hook ``.custom-search-space-objective.configure``: a
    function of the running script, whose file name is no module name."""
    import shutil

    from conftest import EXAMPLE

    app = tmp_path / "app"
    shutil.copytree(EXAMPLE, app)
    shutil.copy(app / "custom_search_space.py", app / "custom-search-space-objective.py")
    s = sweep(str(app / "custom-search-space-objective.py"), "hydra.sweeper.n_trials=3",
              "hydra.sweeper.custom_search_space=.custom-search-space-objective.configure", cwd=app)
    assert set(s.results["best_params"]) == {"x", "y", "z", "+w"}
