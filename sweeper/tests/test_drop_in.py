"""A drop-in for the official ``hydra-optuna-sweeper``: its class path and public names, its
``_impl`` functions' return values, and its semantics by default (storage null in memory,
n_jobs 2 run one job after another from pytest, max_failure_rate 1.0, motpe, the overlap
check, fixed parameters in user_attrs, the closing log lines, search_space warnings); a
sampler that cannot be built stops before any trial; a trial left RUNNING without a
heartbeat is failed by the next sweep."""

from __future__ import annotations

import datetime
import importlib
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from conftest import EXAMPLE
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from optuna import distributions as d
from optuna.trial import TrialState


def _impl() -> Any:
    return importlib.import_module("hydra_plugins.hydra_optuna_sweeper._impl")


def _official(cls: str, *args: Any, **kwargs: Any) -> d.BaseDistribution:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return getattr(d, cls)(*args, **kwargs)


def _sphere(cfg: Any) -> float:
    if cfg.get("error", False):
        raise RuntimeError("cfg.error is true")
    return float(cfg.x) ** 2 + float(cfg.y) ** 2


# ----------------------------------------------------------------------------- names


def test_the_official_class_path_is_a_sweeper_hydra_accepts() -> None:
    from hydra.core.plugins import Plugins
    from hydra.plugins.sweeper import Sweeper

    names = {f"{c.__module__}.{c.__name__}" for c in Plugins.instance().discover(Sweeper)}
    assert "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper" in names
    assert "hydra_plugins.fmnist_optuna_sweeper.sweeper.OptunaSweeper" in names


def test_the_official_public_names_exist_and_store_nothing() -> None:
    from hydra.core.config_store import ConfigStore

    config = importlib.import_module("hydra_plugins.hydra_optuna_sweeper.config")
    ours = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.config")
    assert config.Direction.maximize.name == "maximize"
    assert config.DistributionType["float"] == ours.DistributionType.float
    assert config.TPESamplerConfig is ours.TPESamplerConf
    assert config.GPSamplerConfig().warn_independent_sampling is True
    conf = OmegaConf.structured(config.OptunaSweeperConf)
    assert conf._target_ == "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    assert conf.n_jobs == 2 and conf.storage is None and conf.max_failure_rate == 0.0
    # hydra/sweeper=optuna is stored once, by this plugin's own config module
    node = ConfigStore.instance().load("hydra/sweeper/optuna.yaml")
    assert node.provider == "fmnist_optuna_sweeper"


def test_the_official_constructor_takes_its_arguments_in_order() -> None:
    module = importlib.import_module("hydra_plugins.hydra_optuna_sweeper.optuna_sweeper")
    sweeper = module.OptunaSweeper(optuna.samplers.RandomSampler(), "maximize", None, "s", 5, 1,
                                   0.5, None, None, {"x": "interval(0, 1)"})
    assert sweeper.options.n_trials == 5 and sweeper.options.max_failure_rate == 0.5
    assert sweeper.options.heartbeat_interval == 30  # ours: the config's default
    with pytest.raises(TypeError, match="multiple values for argument 'direction'"):
        module.OptunaSweeper(None, "maximize", direction="minimize")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("lr=tag(log, interval(0.001, 0.1))", ("LogUniformDistribution", 0.001, 0.1)),
        ("lr=interval(0.5, 2)", ("UniformDistribution", 0.5, 2.0)),
        ("n=int(interval(2, 9))", ("IntUniformDistribution", 2, 9)),
        ("n=tag(log, int(interval(2, 64)))", ("IntLogUniformDistribution", 2, 64)),
        ("n=range(2, 10, 2)", ("IntUniformDistribution", 2, 10, 2)),
        ("f=range(0.0, 1.0, step=0.25)", ("DiscreteUniformDistribution", 0.0, 1.0, 0.25)),
        ("c=choice(a, b)", ("CategoricalDistribution", ["a", "b"])),
        ("c=choice(true, false)", ("CategoricalDistribution", [True, False])),
    ],
)
def test_impl_distribution_from_override_returns_the_official_classes(
        override: str, expected: tuple[Any, ...]) -> None:
    parsed = OverridesParser.create().parse_overrides([override])[0]
    actual = _impl().create_optuna_distribution_from_override(parsed)
    assert actual == _official(*expected)  # same class, same fields


def test_impl_fixed_value_and_params_from_overrides() -> None:
    parsed = OverridesParser.create().parse_overrides(["seed=7"])[0]
    assert _impl().create_optuna_distribution_from_override(parsed) == "7"
    searched, fixed = _impl().create_params_from_overrides(["a=choice(1, 2)", "b=x", "c=range(1, 4)"])
    assert searched == {"a": d.CategoricalDistribution([1, 2]),
                        "c": _official("IntUniformDistribution", 1, 4)}
    assert fixed == {"b": "x"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "int", "low": 1, "high": 9, "step": 2}, ("IntUniformDistribution", 1, 9, 2)),
        ({"type": "int", "low": 2, "high": 64, "log": True}, ("IntLogUniformDistribution", 2, 64)),
        ({"type": "float", "low": 0.1, "high": 1.0}, ("UniformDistribution", 0.1, 1.0)),
        ({"type": "float", "low": 0, "high": 2, "step": 0.5}, ("DiscreteUniformDistribution", 0, 2, 0.5)),
        ({"type": "float", "low": 0.01, "high": 1, "log": True}, ("LogUniformDistribution", 0.01, 1)),
        ({"type": "categorical", "choices": ["a", 3]}, ("CategoricalDistribution", ["a", 3])),
    ],
)
def test_impl_distribution_from_config(spec: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert _impl().create_optuna_distribution_from_config(spec) == _official(*expected)
    config = importlib.import_module("hydra_plugins.hydra_optuna_sweeper.config")
    as_enum = {**spec, "type": config.DistributionType[spec["type"]]}
    assert _impl().create_optuna_distribution_from_config(as_enum) == _official(*expected)


def _impl_sweeper(search_space: Any, params: Any) -> Any:
    return _impl().OptunaSweeperImpl(
        optuna.samplers.RandomSampler(), "minimize", None, "s", 1, 1, 0.0,
        None if search_space is None else OmegaConf.create(search_space), None,
        None if params is None else OmegaConf.create(params))


def test_search_space_warnings() -> None:
    with pytest.warns(UserWarning, match=r"`hydra.sweeper.search_space` is deprecated"):
        sweeper = _impl_sweeper({"x": {"type": "float", "low": 0, "high": 1}}, None)
        sweeper._process_searchspace_config()
    assert sweeper.search_space_distributions == {"x": _official("UniformDistribution", 0, 1)}
    with pytest.warns(UserWarning, match=r"Both hydra.sweeper.params and hydra.sweeper.search_space"):
        _impl_sweeper({}, {})._process_searchspace_config()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _impl_sweeper(None, {})._process_searchspace_config()
        _impl_sweeper(None, None)._process_searchspace_config()


# ----------------------------------------------------------------------------- samplers


def test_motpe_says_it_was_removed() -> None:
    config = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.config")
    sweeper = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.sweeper")
    with pytest.raises(Exception, match=r"'motpe' sampler was removed in Optuna 4.0.*sampler=tpe"):
        sweeper.build(OmegaConf.structured(config.MOTPESamplerConf), "sampler")


@pytest.mark.parametrize(("option", "module", "extra"),
                         [("cmaes", "cmaes", "cmaes"), ("gp", "torch", "gp"), ("qmc", "scipy", "qmc")])
def test_a_sampler_without_its_package_names_the_extra(monkeypatch, option: str, module: str,
                                                       extra: str) -> None:
    config = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.config")
    sweeper = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.sweeper")
    monkeypatch.setitem(sys.modules, module, None)  # find_spec: None, import: an error
    with pytest.raises(Exception, match=rf"needs the package '{module}'.*"
                       rf"pip install \"fmnist-optuna-sweeper\[{extra}\]\""):
        sweeper.build(OmegaConf.structured(config.SAMPLERS[option]), "sampler")


def test_cmaes_without_cmaes_stops_before_any_trial(hydra_sweep_runner, monkeypatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "cmaes", None)
    storage = f"sqlite:///{tmp_path / 'o.db'}"
    sweep = hydra_sweep_runner(
        calling_file=str(EXAMPLE / "sphere.py"), calling_module=None, task_function=_sphere,
        config_path="conf", config_name="sphere", temp_dir=str(tmp_path / "sweep"),
        overrides=["hydra/sweeper/sampler=cmaes", f"hydra.sweeper.storage={storage}",
                   "hydra.sweeper.study_name=c", "x=interval(-5, 5)", "y=interval(-5, 5)"])
    with pytest.raises(Exception, match=r"fmnist-optuna-sweeper\[cmaes\]"), sweep:
        pass
    assert not (tmp_path / "o.db").exists()  # before the storage was opened


# ----------------------------------------------------------------------------- semantics


def _run_in_pytest(hydra_sweep_runner, tmp_path: Path, *overrides: str) -> dict[str, Any]:
    sweep = hydra_sweep_runner(
        calling_file=str(EXAMPLE / "sphere.py"), calling_module=None, task_function=_sphere,
        config_path="conf", config_name="sphere", temp_dir=str(tmp_path / "sweep"),
        overrides=list(overrides))
    with sweep:  # the runner deletes its directory on leaving
        assert sweep.returns is None
        return dict(yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text()))


def test_n_jobs_3_from_pytest_runs_one_job_after_another_in_memory(
        hydra_sweep_runner, tmp_path: Path, caplog) -> None:
    results = _run_in_pytest(hydra_sweep_runner, tmp_path, "hydra/launcher=basic",
                             "hydra.sweeper.n_jobs=3", "hydra.sweeper.n_trials=5")
    assert results["states"] == {"COMPLETE": 5} and results["storage"] == "memory"
    # (no capfd here: with the fmnist tests collected, it broke pytest's stderr after an
    # in-process Hydra run; the closing "Best ..." lines are checked in a subprocess below)
    warned = [r.getMessage() for r in caplog.records if "worker_command" in r.getMessage()]
    assert len(warned) == 1 and "n_jobs=3: " in warned[0]


def test_storage_null_runs_the_trials_again(hydra_sweep_runner, tmp_path: Path) -> None:
    """A fixed sweep directory and study name with storage null: a fresh study each time."""
    for _ in range(2):
        results = _run_in_pytest(hydra_sweep_runner, tmp_path, "hydra.sweeper.study_name=same",
                                 "hydra.sweeper.n_trials=3")
        assert results["states"] == {"COMPLETE": 3} and results["study_name"] == "same"


def test_storage_null_with_jobs_in_other_processes_is_a_new_file_each_sweep(sweep) -> None:
    first = sweep("sphere.py", "hydra.sweeper.storage=null", "hydra.sweeper.n_jobs=2",
                  "hydra.sweeper.n_trials=2", "hydra.sweeper.study_name=same").results
    second = sweep("sphere.py", "hydra.sweeper.storage=null", "hydra.sweeper.n_jobs=2",
                   "hydra.sweeper.n_trials=2", "hydra.sweeper.study_name=same").results
    assert first["storage"] != second["storage"] and first["storage"].startswith("sqlite:///")
    assert first["states"] == second["states"] == {"COMPLETE": 2}


def test_fixed_parameters_are_user_attrs_and_the_log_ends_with_the_best(sweep, tmp_path) -> None:
    s = sweep("sphere.py", "hydra.sweeper.n_trials=3", "y=0")
    study = optuna.load_study(study_name=s.results["study_name"], storage=s.results["storage"])
    assert all(t.user_attrs["y"] == "0" and "y" not in t.params for t in study.trials)
    assert f"Best parameters: {study.best_params}" in s.output
    assert f"Best value: {study.best_value}" in s.output


def test_a_searched_key_also_fixed_is_an_error(sweep) -> None:
    """The custom search space suggests z; z fixed on the command line too: the official
    ValueError, and the trial is not left RUNNING."""
    s = sweep("custom_search_space.py", "z=3", "hydra.sweeper.study_name=o", check=False)
    assert s.proc.returncode != 0
    assert "Overlapping fixed parameters and search space parameters found" in s.proc.stderr
    storage = f"sqlite:///{s.dir.parent / 'study.db'}"
    trials = optuna.load_study(study_name="o", storage=storage).trials
    assert [t.state for t in trials] == [TrialState.FAIL]


def test_a_trial_left_running_without_heartbeat_is_failed_and_the_study_completes(
        sweep, tmp_path: Path) -> None:
    """A sweep killed between asking a trial and its first heartbeat left it RUNNING: the next
    sweep fails it (not counted: its job never ran) and runs n_trials trials."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="k", storage=storage)
    study.ask({"x": d.FloatDistribution(-5.5, 5.5, step=0.5)})
    time.sleep(1.5)
    sweep("sphere.py", "hydra.sweeper.study_name=k", "hydra.sweeper.n_trials=3",
          "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=1")
    trials = optuna.load_study(study_name="k", storage=storage).trials
    assert [t.state for t in trials] == [TrialState.FAIL] + [TrialState.COMPLETE] * 3
    assert trials[0].user_attrs["never_started"] is True


def test_fail_dead_trials_leaves_young_and_beating_trials_alone(tmp_path: Path) -> None:
    stale = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.stale")
    storage_module = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.storage")
    store = storage_module.make_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=60,
                                        retry_failed=1)
    study = optuna.create_study(study_name="s", storage=store)
    space = {"x": d.FloatDistribution(0, 1)}
    silent = study.ask(space)
    time.sleep(1.2)
    beating, young = study.ask(space), study.ask(space)
    store.record_heartbeat(beating._trial_id)  # type: ignore[attr-defined]
    assert stale.fail_dead_trials(study, grace_period=1.0) == [silent._trial_id]
    states = [t.state for t in study.get_trials()]
    # the silent trial failed and waits to be retried (retry_failed); the others run on
    assert states[:3] == [TrialState.FAIL, TrialState.RUNNING, TrialState.RUNNING]
    assert states[3:] == [TrialState.WAITING] and study.trials[3].params == silent.params
    assert young.number == 2
    # an hour on, the young trial (no heartbeat) is dead too; the beating one is Optuna's
    later = datetime.datetime.now() + datetime.timedelta(hours=1)
    assert stale.fail_dead_trials(study, grace_period=1.0, now=later) == [young._trial_id]


# ----------------------------------------------------------------------------- a template app

TEMPLATE_SEARCH = """\
# @package _global_
# as lightning-hydra-template's hparams_search/mnist_optuna.yaml: the official _target_ line
defaults:
  - override /hydra/sweeper: optuna

optimized_metric: "val/acc_best"

hydra:
  mode: "MULTIRUN"
  sweeper:
    _target_: hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper
    storage: null
    study_name: null
    n_jobs: 1
    direction: maximize
    n_trials: 20
    sampler:
      _target_: optuna.samplers.TPESampler
      seed: 1234
      n_startup_trials: 10
    params:
      model.optimizer.lr: interval(0.0001, 0.1)
      data.batch_size: choice(32, 64, 128, 256)
      model.net.lin1_size: choice(64, 128, 256)
      model.net.lin2_size: choice(64, 128, 256)
      model.net.lin3_size: choice(32, 64, 128, 256)
"""

TEMPLATE_TRAIN = """\
defaults:
  - _self_
  - hparams_search: null
optimized_metric: val/acc
data: {batch_size: 64}
model:
  optimizer: {lr: 0.001}
  net: {lin1_size: 64, lin2_size: 128, lin3_size: 64}
"""

TEMPLATE_APP = '''\
import math

import hydra


@hydra.main(version_base="1.3", config_path="configs", config_name="train.yaml")
def main(cfg):
    lr, net = cfg.model.optimizer.lr, cfg.model.net
    return 1.0 - abs(math.log10(lr) + 2.5) / 10 - abs(net.lin1_size - 128) / 1e4


if __name__ == "__main__":
    main()
'''


def test_a_template_app_runs_its_official_search_file_unchanged(tmp_path: Path) -> None:
    (tmp_path / "configs" / "hparams_search").mkdir(parents=True)
    (tmp_path / "configs" / "hparams_search" / "mnist_optuna.yaml").write_text(TEMPLATE_SEARCH)
    (tmp_path / "configs" / "train.yaml").write_text(TEMPLATE_TRAIN)
    (tmp_path / "train.py").write_text(textwrap.dedent(TEMPLATE_APP))
    sweep_dir = tmp_path / "multirun"
    for _ in range(2):  # storage null: the second run runs its 20 trials again
        proc = subprocess.run([sys.executable, "-W", "error", "train.py", "hparams_search=mnist_optuna",
                               f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
        assert results["states"] == {"COMPLETE": 20} and results["storage"] == "memory"
        assert "Best value: " in proc.stdout + proc.stderr
