"""``python -m fmnist.best``: a real tiny sweep's winner as an experiment file that composes to
the trial's config, retrained per seed with a ranked table; bad input as one-line errors
(exit 2) before anything is written."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import optuna
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from fmnist.best import BEST_FILE
from fmnist.best.__main__ import main as best_main
from fmnist.best.experiment import flat_differences
from fmnist.best.sweep import SweepRecordError, check_setting
from tests.conftest import CONF, REPO, run_module

SEARCH = """\
# @package _global_
defaults:
  - override /hydra/sweeper: optuna
data:
  train_size: 200
  eval_size: 100
trainer:
  epochs: 1
  batch_size: 32
  eval_train_size: 100
hydra:
  sweeper:
    study_name: {name}
    direction: maximize
    max_failure_rate: 1.0
    n_trials: 2
    n_jobs: 1
    storage: sqlite:///${{hydra.sweep.dir}}/optuna.db
    sampler:
      _target_: optuna.samplers.TPESampler
      seed: 3
    params:
{params}
"""
#: a float, an int, a config group and a fixed value in the params; one more fixed value and a
#: group option on the command line
PARAMS = """\
      optim.learning_rate: tag(log, interval(1e-4, 3e-3))
      model.dense_units: choice(16, 32)
      optim: choice(adam, adamax)
      seed: 7"""
BAD = """\
      optim.learning_rate: interval(0.001, 0.01)
      model.dropout_conv2: interval(1.5, 2.0)"""


def _run_sweep(root: Path, name: str, params: str, *extra: str):
    conf = root / "conf"
    (conf / "hparams_search").mkdir(parents=True, exist_ok=True)
    (conf / "hparams_search" / f"{name}.yaml").write_text(SEARCH.format(name=name, params=params))
    sweep = root / name
    proc = run_module("fmnist", "-m", f"hparams_search={name}", f"hydra.searchpath=[file://{conf}]",
                      f"hydra.sweep.dir={sweep}", "hydra.callbacks.summary.enabled=false", *extra,
                      cwd=REPO)
    return sweep, conf, proc


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Path, Path]:
    """A finished two-trial sweep of the brief CNN on 200 real images."""
    root = tmp_path_factory.mktemp("best")
    sweep, conf, proc = _run_sweep(root, "tiny", PARAMS, "trainer.bn_recalibration_batches=2",
                                   "schedule=sgdr")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sweep, conf


def _study(sweep: Path) -> optuna.Study:
    record = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    return optuna.load_study(study_name=record["study_name"], storage=record["storage"])


def _compose_best(best_dir: Path, conf: Path, experiment: str = "best"):
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose("config", overrides=[
                f"+experiment={experiment}", f"hydra.searchpath=[file://{best_dir},file://{conf}]"],
                return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def test_best_yaml_composes_to_the_best_trial(sweep: tuple[Path, Path], capsys) -> None:
    sweep_dir, conf = sweep
    assert best_main([str(sweep_dir)]) == 0
    best_file = sweep_dir / "best" / BEST_FILE
    assert f"wrote {best_file}" in capsys.readouterr().out
    study = _study(sweep_dir)
    trial = study.best_trial
    record = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert record["best_trial_number"] == trial.number
    assert record["best_run_dir"] == trial.user_attrs["run_dir"] == str(sweep_dir / str(trial.number))

    text = best_file.read_text()
    assert text.startswith("# @package _global_\n")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for fact in ("'tiny'", f"trial {trial.number}:", f"val_accuracy = {trial.value!r}",
                 f"run directory: {trial.user_attrs['run_dir']}"):
        assert fact in header
    assert "_target_" not in text and "hydra" not in yaml.safe_load(text)

    cfg = _compose_best(sweep_dir / "best", conf)
    # the swept values, exactly
    assert cfg.optim.learning_rate == trial.params["optim.learning_rate"]
    assert cfg.model.dense_units == trial.params["model.dense_units"]
    assert cfg.hydra.runtime.choices.optim == trial.params["optim"]
    # the fixed overrides the study was started with (as the sweeper records them)
    fixed = study.user_attrs["fixed_overrides"]
    assert fixed == {"seed": "7", "hparams_search": "tiny", "trainer.bn_recalibration_batches": "2",
                     "schedule": "sgdr"}
    assert cfg.seed == 7 and cfg.trainer.bn_recalibration_batches == 2
    assert cfg.hydra.runtime.choices.schedule == "sgdr"
    # and everything else the trial's job was composed with (its study bookkeeping aside)
    trial_cfg = OmegaConf.to_container(
        OmegaConf.load(sweep_dir / str(trial.number) / ".hydra" / "config.yaml"))
    mine = OmegaConf.to_container(cfg)
    del mine["hydra"]
    for key in ("storage", "study_name", "trial_id", "trial_number"):
        trial_cfg["optuna"][key] = None
    assert flat_differences(mine, trial_cfg) == {}


@pytest.mark.slow  # four training runs after the sweep; the composition test above stays fast
def test_retrain_two_seeds_of_the_two_best_trials(sweep: tuple[Path, Path], capsys) -> None:
    sweep_dir, _ = sweep
    study = _study(sweep_dir)
    trials = sorted(study.trials, key=lambda t: -t.value)
    assert best_main([str(sweep_dir), "--retrain", "--seeds", "2", "--top", "2",
                      "trainer.epochs=1"]) == 0
    best = sweep_dir / "best"
    assert f"wrote {best / 'retrain.md'}" in capsys.readouterr().out
    with open(best / "retrain.csv") as f:
        runs = list(csv.DictReader(f))
    assert [(int(r["trial"]), int(r["seed"])) for r in runs] == [
        (t.number, s) for t in trials for s in (7, 8)]
    for row in runs:
        run_dir = best / row["trial"] / row["seed"]
        assert row["run_dir"] == str(run_dir) and row["status"] == "completed"
        assert (run_dir / "metrics.json").is_file() and (run_dir / "model.keras").is_file()
    # the trial's own seed with the trial's config: the trial's result again (deterministic)
    for t in trials:
        own = next(r for r in runs if int(r["trial"]) == t.number and r["seed"] == "7")
        assert float(own["test_accuracy"]) == pytest.approx(t.user_attrs["test_accuracy"], abs=1e-6)
    with open(best / "retrain_summary.csv") as f:
        summary = list(csv.DictReader(f))
    means = [float(r["test_accuracy_mean"]) for r in summary]
    assert [r["rank"] for r in summary] == ["1", "2"] and means == sorted(means, reverse=True)
    for row in summary:
        mine = [float(r["test_accuracy"]) for r in runs if r["trial"] == row["trial"]]
        assert float(row["test_accuracy_mean"]) == pytest.approx(sum(mine) / 2)
        assert float(row["test_accuracy_std"]) == pytest.approx(abs(mine[0] - mine[1]) / 2 ** 0.5)
    table = (best / "retrain.md").read_text()
    assert table.count("| mean |") == 2 and table.count("| std |") == 2
    # the sweep's report shows the table, and does not count the runs as trials
    from fmnist.summary.report import summarize

    report = summarize([sweep_dir], progress=False).read_text()
    assert "Best trials, trained again" in report
    assert len((sweep_dir / "summary" / "runs.csv").read_text().splitlines()) == 3  # header + 2


def _copy_record(sweep_dir: Path, target: Path) -> Path:
    target.mkdir()
    for name in ("optimization_results.yaml", "multirun.yaml"):
        shutil.copy(sweep_dir / name, target / name)
    return target


def _fails(args: list[str], capsys) -> str:
    assert best_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def test_not_a_sweep(tmp_path: Path, capsys) -> None:
    (tmp_path / "run").mkdir()
    assert "is not a sweep directory" in _fails([str(tmp_path / "run")], capsys)
    assert list((tmp_path / "run").iterdir()) == []


def test_a_sweep_whose_trials_all_failed(tmp_path: Path, data_dir: Path, capsys) -> None:
    sweep_dir, _, proc = _run_sweep(tmp_path, "fails", BAD, "model=deeper")
    # max_failure_rate: 1.0 ends normally even when every trial failed (the official semantics)
    assert proc.returncode == 0 and (sweep_dir / "optimization_results.yaml").is_file()
    err = _fails([str(sweep_dir), "--retrain", "--seeds", "2"], capsys)
    assert "has no completed trial (2 trials: FAIL)" in err
    assert not (sweep_dir / "best").exists()


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_an_unreadable_storage(sweep: tuple[Path, Path], tmp_path: Path, damage: str, capsys) -> None:
    target = _copy_record(sweep[0], tmp_path / "copy")
    db = tmp_path / "elsewhere.db"
    if damage == "garbage":
        db.write_text("not a database\n" * 100)
    record = yaml.safe_load((target / "optimization_results.yaml").read_text())
    record["storage"] = f"sqlite:///{db}"
    (target / "optimization_results.yaml").write_text(yaml.safe_dump(record))
    err = _fails([str(target)], capsys)
    assert "cannot read study 'tiny'" in err
    assert "does not exist" in err if damage == "missing" else "DatabaseError" in err
    assert not (target / "best").exists() and (db.exists() == (damage == "garbage"))


@pytest.mark.parametrize(("key", "value"), [
    ("model._target_", "builtins.print"),
    ("+model.init._args_", "[1]"),
    ("hydra.job.chdir", "true"),
    ("optim.learning_rate", "${oc.env:HOME}"),
    ("model", "../../../etc/passwd"),
])
def test_stored_settings_that_are_not_data(sweep: tuple[Path, Path], tmp_path: Path, key: str,
                                           value: str, capsys) -> None:
    """A study whose stored settings (in a shared storage, say) name code: refused."""
    target = _copy_record(sweep[0], tmp_path / "copy")
    db = tmp_path / "copy.db"
    shutil.copy(sweep[0] / "optuna.db", db)
    multirun = yaml.safe_load((target / "multirun.yaml").read_text())
    multirun["hydra"]["sweeper"]["params"][key] = value
    (target / "multirun.yaml").write_text(yaml.safe_dump(multirun))
    record = yaml.safe_load((target / "optimization_results.yaml").read_text())
    record["storage"] = f"sqlite:///{db}"
    (target / "optimization_results.yaml").write_text(yaml.safe_dump(record))
    study = optuna.load_study(study_name="tiny", storage=record["storage"])
    settings = dict(study.user_attrs["fixed_overrides"])
    override = OverridesParser.create().parse_override(f"{key}={value}")  # as the sweeper records it
    settings[override.get_key_element()] = override.get_value_element_as_str()
    study.set_user_attr("fixed_overrides", settings)
    assert "is refused" in _fails([str(target)], capsys)
    assert not (target / "best").exists()


def test_a_study_kept_in_memory(sweep: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    """storage null (in memory): nothing to read back, and the error says how to keep it."""
    target = _copy_record(sweep[0], tmp_path / "copy")
    record = yaml.safe_load((target / "optimization_results.yaml").read_text())
    record["storage"] = "memory"
    (target / "optimization_results.yaml").write_text(yaml.safe_dump(record))
    err = _fails([str(target)], capsys)
    assert "hydra.sweeper.storage=null" in err and "sweep again with a storage" in err


@pytest.mark.parametrize(("key", "value", "refused"), [
    ("optim.learning_rate", 0.001, False),
    ("augment.elastic.alpha", [10, 12], False),
    ("model", "deeper", False),
    ("model._target_", "os.system", True),
    ("model", {"_target_": "os.system"}, True),
    ("optim", {"inner": {"_partial_": True}}, True),
    ("x", [{"_args_": [1]}], True),
    ("hydra.run.dir", "/tmp", True),
    ("hydra", {"a": 1}, True),
    ("optim.learning_rate", "${oc.decode:'{_target_: os.system}'}", True),
])
def test_check_setting(key: str, value: object, refused: bool) -> None:
    if refused:
        with pytest.raises(SweepRecordError, match="is refused"):
            check_setting(key, value, "here")
    else:
        check_setting(key, value, "here")


def test_overrides_need_retrain_and_are_checked_first(sweep: tuple[Path, Path], capsys) -> None:
    sweep_dir, _ = sweep
    with pytest.raises(SystemExit):
        best_main([str(sweep_dir), "trainer.epochs=3"])
    assert "--seeds and overrides need --retrain" in capsys.readouterr().err
    def files() -> list[str]:  # reading a study in SQLite's WAL mode opens its -wal/-shm files
        return sorted(str(p) for p in sweep_dir.rglob("*") if not p.name.endswith(("-wal", "-shm")))

    before = files()
    err = _fails([str(sweep_dir), "--retrain", "data.train_on=train+val"], capsys)
    assert "trainer.restore_best_weights=false" in err
    assert "trainer.epoch" in _fails([str(sweep_dir), "--retrain", "trainer.epoch=3"], capsys)
    assert "sets each run's seed" in _fails([str(sweep_dir), "--retrain", "seed=3"], capsys)
    assert files() == before


@pytest.mark.parametrize("search", sorted(p.stem for p in (CONF / "hparams_search").glob("*.yaml")))
def test_a_trial_of_every_shipped_search_composes_back(search: str) -> None:
    """The search's own files (and the experiment it builds on) are spelled out as group
    options and values; the file composes to the trial's config (checked inside ``build``)."""
    from fmnist.best.experiment import Composer, Experiment
    from fmnist.best.sweep import Trial

    trial = Trial(0, 0.9, None, {"trainer.batch_size": 64},
                  [f"hparams_search={search}", "trainer.epochs=2"], ["trainer.batch_size=64"])
    experiment = Experiment.build(Composer([]), trial, ["a comment"])
    body = yaml.safe_load(experiment.text)
    assert experiment.text.startswith("# @package _global_\n# a comment\n")
    assert body["trainer"]["epochs"] == 2 and body["trainer"]["batch_size"] == 64
    assert not any(k in experiment.text for k in ("_target_", "hparams_search", "/experiment", "hydra"))
    assert experiment.config["trainer"]["epochs"] == 2
