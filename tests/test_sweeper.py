"""End-to-end sweeps, each a subprocess running ``python -m fmnist -m`` with a handful of tiny
trials (the brief CNN on a few hundred real images)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from tests.conftest import REPO, run_module

TINY_SEARCH = """\
# @package _global_
defaults:
  - override /hydra/sweeper: optuna
data:
  train_size: 200
  eval_size: 100
trainer:
  epochs: {epochs}
  batch_size: 32
hydra:
  sweeper:
    study_name: {study}
    direction: maximize
    max_failure_rate: 1.0
    n_trials: 3
    n_jobs: 1
    sampler:
      _target_: optuna.samplers.TPESampler
      seed: 1
    params:
{params}
{extra}
"""
PARAMS = """\
      optim.learning_rate: tag(log, interval(1e-4, 1e-2))
      model.dense_units: choice(16, 32)"""


#: a search whose every trial fails when its job starts (dropout must be < 1)
BAD_DROPOUT = ("      optim.learning_rate: interval(0.001, 0.01)\n"
               "      model.dropout_conv2: interval(1.5, 2.0)")


def _search(tmp_path: Path, name: str, *, epochs: int = 2, extra: str = "",
            params: str = PARAMS) -> Path:
    root = tmp_path / "conf"
    (root / "hparams_search").mkdir(parents=True, exist_ok=True)
    (root / "hparams_search" / f"{name}.yaml").write_text(
        TINY_SEARCH.format(epochs=epochs, study=name, extra=extra, params=params))
    return root


def _sweep(tmp_path: Path, name: str, *overrides: str, conf: Path | None = None,
           storage: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    conf = conf or _search(tmp_path, name)
    proc = run_module(
        "fmnist", "-m", f"hparams_search={name}", f"hydra.searchpath=[file://{conf}]",
        f"hydra.sweep.dir={tmp_path / 'sweep' / name}",
        f"hydra.sweeper.storage={storage or _sqlite(tmp_path)}", *overrides, cwd=REPO,
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'optuna.db'}"


def _trials(tmp_path: Path, name: str, storage: str | None = None):
    study = optuna.load_study(study_name=name, storage=storage or _sqlite(tmp_path))
    return study, study.get_trials()


def _parallel_trials(tmp_path: Path, name: str, n_trials: int) -> list:
    """The study's trials, checked: ``n_trials`` of them, all complete, the first two in flight
    at the same time."""
    _, trials = _trials(tmp_path, name)
    assert len(trials) == n_trials and all(t.state == TrialState.COMPLETE for t in trials)
    spans = sorted((t.datetime_start, t.datetime_complete) for t in trials)
    assert spans[1][0] < spans[0][1], "the first two trials should run at the same time"
    return trials


def test_sweep_records_trials_and_resumes(tmp_path: Path) -> None:
    enqueue = "    enqueue:\n      - {optim.learning_rate: 0.003, model.dense_units: 16}"
    conf = _search(tmp_path, "resume", extra=enqueue)
    proc = _sweep(tmp_path, "resume", "hydra.sweeper.n_trials=2", conf=conf)
    study, trials = _trials(tmp_path, "resume")
    assert [t.number for t in trials] == [0, 1]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert trials[0].params == {"optim.learning_rate": 0.003, "model.dense_units": 16}
    sweep = tmp_path / "sweep" / "resume"
    for t in trials:
        run_dir = Path(t.user_attrs["run_dir"])
        assert run_dir == sweep / str(t.number)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["trial_number"] == t.number and metrics["study_name"] == "resume"
        assert t.user_attrs["test_accuracy"] == metrics["test"]["accuracy"]
        assert t.user_attrs["epochs"] == 2 and t.user_attrs["wall_seconds"] > 0
        assert t.value == pytest.approx(metrics["val"]["accuracy"])
        assert sorted(t.intermediate_values) == [1, 2]
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(study.best_value)
    assert results["best_params"] == study.best_params and results["n_trials"] == 2
    assert "2/2 trials done" in proc.stderr + proc.stdout

    # the same command again with n_trials=3 adds exactly one trial, numbered on
    _sweep(tmp_path, "resume", "hydra.sweeper.n_trials=3", conf=conf)
    _, trials = _trials(tmp_path, "resume")
    assert [t.number for t in trials] == [0, 1, 2]
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1", "2"]
    # and once more with the same total: nothing is rerun
    _sweep(tmp_path, "resume", "hydra.sweeper.n_trials=3", conf=conf)
    assert len(_trials(tmp_path, "resume")[1]) == 3

    # the dashboard reads the study back through its API
    _check_dashboard(_sqlite(tmp_path), "resume", n_trials=3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _check_dashboard(storage: str, study_name: str, n_trials: int) -> None:
    exe = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent)) or shutil.which(
        "optuna-dashboard")
    assert exe, "optuna-dashboard is not installed"
    port = _free_port()
    proc = subprocess.Popen([exe, storage, "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            try:
                studies = _get(f"{base}/api/studies")["study_summaries"]
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.5)
        summary = next(s for s in studies if s["study_name"] == study_name)
        detail = _get(f"{base}/api/studies/{summary['study_id']}")
        trials = detail["trials"]
        assert len(trials) == n_trials
        assert all(t["state"] == "Complete" for t in trials)
        names = {p["name"] for t in trials for p in t["params"]}
        assert names == {"optim.learning_rate", "model.dense_units"}
        assert all(len(t["intermediate_values"]) == 2 for t in trials)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_pruned_trials_keep_their_history(tmp_path: Path) -> None:
    conf = _search(tmp_path, "prune", epochs=3, extra=(
        "    pruner:\n      _target_: optuna.pruners.ThresholdPruner\n      lower: 0.99\n"))
    _sweep(tmp_path, "prune", "hydra.sweeper.n_trials=2", conf=conf)
    _, trials = _trials(tmp_path, "prune")
    assert [t.state for t in trials] == [TrialState.PRUNED, TrialState.PRUNED]
    for t in trials:
        assert list(t.intermediate_values) == [1]
        run_dir = Path(t.user_attrs["run_dir"])
        history = (run_dir / "history.csv").read_text().splitlines()
        assert len(history) == 2  # header + the one epoch before pruning
        assert json.loads((run_dir / "metrics.json").read_text())["status"] == "pruned"


def test_failed_trials_are_recorded_and_an_all_failed_sweep_says_so(tmp_path: Path) -> None:
    # a swept value out of range fails each job as it starts (a fixed one would stop the sweep
    # before its first trial: tests/test_validate.py)
    conf = _search(tmp_path, "fails", params=BAD_DROPOUT)
    proc = _sweep(tmp_path, "fails", "model=deeper", "hydra.sweeper.max_failure_rate=1.0",
                  conf=conf, check=False)
    _, trials = _trials(tmp_path, "fails")
    assert len(trials) == 3 and all(t.state == TrialState.FAIL for t in trials)
    message = "dropout_conv2 must be in [0, 1), got model.dropout_conv2=1."
    assert all(message in t.user_attrs["error"] for t in trials)
    assert "3/3 trials done" in proc.stderr + proc.stdout
    # every trial failed: the sweep says so with the last error, and (max_failure_rate=1.0, as
    # the official plugin) ends normally
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "all 3 trials of this sweep failed" in output
    assert message in output


def test_max_failure_rate_stops_the_sweep(tmp_path: Path) -> None:
    conf = _search(tmp_path, "stops", params=BAD_DROPOUT)
    proc = _sweep(tmp_path, "stops", "model=deeper", "hydra.sweeper.max_failure_rate=0.5",
                  conf=conf, check=False)
    assert proc.returncode != 0
    assert "max_failure_rate=0.5" in proc.stderr
    _, trials = _trials(tmp_path, "stops")
    assert len(trials) == 1 and trials[0].state == TrialState.FAIL
    assert (tmp_path / "sweep" / "stops" / "optimization_results.yaml").exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("optim.learning_rat: interval(0.1, 0.2)", "unknown parameter path 'optim.learning_rat'"),
        ("optim.learning_rate: interval(0.2, 0.1)", "optim.learning_rate: interval needs low < high"),
        ("optim.learning_rate: interval(0.2", "optim.learning_rate: cannot parse"),
    ],
)
def test_bad_search_space_fails_before_any_trial(tmp_path: Path, params: str, message: str) -> None:
    conf = _search(tmp_path, "bad", params=f"      {params}")
    proc = _sweep(tmp_path, "bad", conf=conf, check=False)
    assert proc.returncode != 0 and message in proc.stderr
    assert not (tmp_path / "sweep" / "bad" / "0").exists()
    assert not (tmp_path / "optuna.db").exists()  # refused before the storage was opened


def test_parallel_jobs_overlap_and_all_finish(tmp_path: Path) -> None:
    _sweep(tmp_path, "parallel", "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=3")
    for t in _parallel_trials(tmp_path, "parallel", 3):
        run_dir = Path(t.user_attrs["run_dir"])
        assert (run_dir / "model.keras").exists() and (run_dir / "optuna_result.json").exists()
        assert sorted(t.intermediate_values) == [1, 2]  # reported from the worker process


def _tensorflow_gpus() -> list[str]:
    """The GPUs TensorFlow sees, asked in a subprocess (this one keeps its own device state)."""
    proc = subprocess.run([sys.executable, "-c", "import tensorflow as tf; "
                           "print(len(tf.config.list_physical_devices('GPU')))"],
                          capture_output=True, text=True, timeout=300)
    return [str(i) for i in range(int(proc.stdout.strip() or 0))]


def test_two_trials_share_one_gpu(tmp_path: Path) -> None:
    """trials_per_gpu=2 on one GPU: two workers, both jobs train on that GPU at the same time."""
    gpus = _tensorflow_gpus()
    if not gpus:
        pytest.skip("TensorFlow sees no GPU on this machine: trials_per_gpu=2 needs one to share")
    _sweep(tmp_path, "gpu2", "hydra.sweeper.n_jobs=auto", "hydra.sweeper.trials_per_gpu=2",
           f"hydra.sweeper.devices=[{gpus[0]}]", "hydra.sweeper.n_trials=4")
    for t in _parallel_trials(tmp_path, "gpu2", 4):
        metrics = json.loads((Path(t.user_attrs["run_dir"]) / "metrics.json").read_text())
        assert metrics["devices"] == ["/physical_device:GPU:0"]  # CUDA_VISIBLE_DEVICES: one GPU


@pytest.mark.slow  # suite time: a faster sibling keeps the feature in the default run
def test_multi_objective_gives_a_pareto_set(tmp_path: Path) -> None:
    _sweep(tmp_path, "pareto", "hydra.sweeper.direction=[maximize,minimize]",
           "optimized_metric=[val_accuracy,train_seconds]")
    study, trials = _trials(tmp_path, "pareto")
    assert len(study.directions) == 2 and all(len(t.values) == 2 for t in trials)
    results = yaml.safe_load((tmp_path / "sweep" / "pareto" / "optimization_results.yaml").read_text())
    front = results["solutions"]
    assert 1 <= len(front) <= 3
    assert {p["trial"] for p in front} == {t.number for t in study.best_trials}
    assert all(len(p["values"]) == 2 and set(p["params"]) == set(trials[0].params) for p in front)


@pytest.mark.slow  # suite time: a faster sibling keeps the feature in the default run
@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_trial_left_running_by_a_killed_sweep_is_failed_and_retried(tmp_path: Path) -> None:
    from hydra_plugins.fmnist_optuna_sweeper.storage import make_storage

    storage = make_storage(_sqlite(tmp_path), heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(study_name="stale", storage=storage, direction="maximize")
    dead = study.ask({"optim.learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
                      "model.dense_units": optuna.distributions.CategoricalDistribution([16, 32])})
    storage.record_heartbeat(dead._trial_id)
    time.sleep(3)
    _sweep(tmp_path, "stale", "hydra.sweeper.n_trials=2", "hydra.sweeper.heartbeat_interval=1",
           "hydra.sweeper.grace_period=2", "hydra.sweeper.retry_failed=1")
    _, trials = _trials(tmp_path, "stale")
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].params == trials[0].params  # the retry reruns the dead trial's parameters


# ----------------------------------------------------------------------------- PostgreSQL


@pytest.mark.slow
def test_fmnist_sweep_through_joblib(tmp_path: Path) -> None:
    _sweep(tmp_path, "joblib", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
           "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=3")
    for t in _parallel_trials(tmp_path, "joblib", 3):
        run_dir = Path(t.user_attrs["run_dir"])
        assert run_dir == tmp_path / "sweep" / "joblib" / str(t.number)
        assert (run_dir / "model.keras").exists()
        assert not (run_dir / "optuna_result.json").exists()  # not a subprocess worker
        assert sorted(t.intermediate_values) == [1, 2]  # reported from the joblib worker


def _pg_bindir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback, started for this module."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin "
                    "(apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="fmnist-pg-"))
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    data = root / "data"

    def pg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)

    init = pg(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr[-500:]}")
    start = pg(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
               f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200", "start")
    if start.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {start.stderr[-500:]}")
    try:
        created = pg(str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                     "-c", "CREATE DATABASE optuna")
        assert created.returncode == 0, created.stderr
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/optuna"
    finally:
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop")
        shutil.rmtree(root, ignore_errors=True)


def three_sweeps_share_one_study(tmp_path: Path, storage: str) -> list[optuna.trial.FrozenTrial]:
    """Three sweep processes of one 7-trial study on ``storage``: each trial exactly once,
    every process taking part. Returns the study's trials."""
    from hydra_plugins.fmnist_optuna_sweeper.job import open_study

    conf = _search(tmp_path, "shared")
    command = [sys.executable, "-m", "fmnist", "-m", "hparams_search=shared",
               f"hydra.searchpath=[file://{conf}]", f"hydra.sweep.dir={tmp_path / 'sweep'}",
               f"hydra.sweeper.storage={storage}", "hydra.sweeper.n_trials=7"]
    workers = [subprocess.Popen(command, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    for w, out in zip(workers, outputs, strict=True):
        assert w.returncode == 0, out[-3000:]
    trials = open_study(storage, "shared").get_trials()
    assert [t.number for t in trials] == list(range(7))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    run_dirs = [Path(t.user_attrs["run_dir"]) for t in trials]
    assert len(set(run_dirs)) == 7
    for t, run_dir in zip(trials, run_dirs, strict=True):
        assert json.loads((run_dir / "metrics.json").read_text())["trial_number"] == t.number
    assert all("COMPLETE" in out for out in outputs)  # every worker took part
    return trials


@pytest.mark.postgres
def test_three_workers_share_one_study_through_postgresql(tmp_path: Path, postgres_url: str) -> None:
    three_sweeps_share_one_study(tmp_path, postgres_url)
