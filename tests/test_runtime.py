"""How a job uses its machine (issue 23): threads per job for a table of (cores, jobs), the
precision policy as a pure function of the device, ``steps_per_execution`` 1 and 8 giving the
same run (precise BN, pruning reports, SGDR per step), and the old code path reproduced bit
for bit."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import optuna
import pytest

from fmnist.app import run
from fmnist.devices import auto_policy, precision_policy
from fmnist.errors import ConfigError
from fmnist.runtime import steps_per_execution
from fmnist.threads import SHARING_ENV, machine_cores, sharing, thread_count
from tests.conftest import REPO, run_module
from tests.reference_runs import CONFIGS, machine, outcome

FIXTURE = REPO / "tests" / "fixtures" / "reference_runs.json"
OLD_PATH = ["trainer.threads=all", "trainer.steps_per_execution=1",
            "trainer.mixed_precision=float32"]


@pytest.mark.parametrize(
    ("setting", "cores", "jobs", "threads"),
    [
        ("auto", 2, 1, 2), ("auto", 2, 2, 1), ("auto", 2, 3, 1),   # never below 1
        ("auto", 16, 1, 16), ("auto", 16, 4, 4), ("auto", 16, 3, 5),  # one core left over
        ("auto", 16, 16, 1), ("auto", 64, 8, 8),
        ("all", 16, 4, 16), ("all", 2, 2, 2),                       # today's: every core
        (3, 16, 4, 3), (1, 2, 1, 1),
    ],
)
def test_threads_per_job(setting, cores: int, jobs: int, threads: int) -> None:
    assert thread_count(setting, cores, jobs) == threads


@pytest.mark.parametrize("setting", [0, -2, "half", True, 1.5])
def test_a_bad_thread_setting_names_the_value_and_rule(setting) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"got trainer.threads={setting!r}")):
        thread_count(setting, 4, 1)


@pytest.mark.parametrize(("env", "jobs"), [({}, 1), ({SHARING_ENV: "4"}, 4), ({SHARING_ENV: ""}, 1)])
def test_jobs_sharing_the_machine_come_from_the_sweeper(env: dict[str, str], jobs: int) -> None:
    assert sharing(env) == jobs


def test_a_bad_sharing_count_is_an_error() -> None:
    with pytest.raises(ConfigError, match=f"{SHARING_ENV} must be an integer >= 1, got"):
        sharing({SHARING_ENV: "0"})


@pytest.mark.parametrize(
    ("capabilities", "policy"),
    [
        ([], "float32"),                      # CPU only
        ([(6, 1)], "float32"),                # Pascal: no tensor cores
        ([(7, 0)], "mixed_float16"),          # V100
        ([(7, 5)], "mixed_float16"),          # T4
        ([(8, 0)], "mixed_bfloat16"),         # A100
        ([(8, 9)], "mixed_bfloat16"),         # L4
        ([(9, 0)], "mixed_bfloat16"),         # H100
        ([(9, 0), (7, 5)], "mixed_float16"),  # the oldest decides
    ],
)
def test_auto_precision_follows_the_device(capabilities, policy: str) -> None:
    assert auto_policy(capabilities) == policy
    assert precision_policy("auto", capabilities) == policy


@pytest.mark.parametrize("setting", [0, -1, "8", True])
def test_a_bad_steps_per_execution_is_a_config_error(setting) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"got trainer.steps_per_execution={setting!r}")):
        steps_per_execution(setting)


def _history(path: Path) -> list[dict[str, float]]:
    with open(path) as f:
        return [{k: float(v) for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def test_steps_per_execution_8_trains_as_1_with_precise_bn_pruning_and_sgdr(
        compose_cfg, tmp_path: Path) -> None:
    """The quick preset's job (SGDR per step, precise BN, pruning reports) on tiny data: 8
    steps per call give the history, reported values and metrics of 1 step per call."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="spe", storage=url, direction="maximize")
    study.set_user_attr("pruner", {"_target_": "optuna.pruners.NopPruner"})
    results = {}
    for spe in (1, 8):
        trial = study.ask()
        out = tmp_path / f"spe{spe}"
        cfg = compose_cfg(
            "+experiment=deeper_elastic", "data.train_size=300", "data.eval_size=100",
            "trainer.epochs=3", "trainer.batch_size=32", "trainer.bn_recalibration_batches=2",
            "trainer.eval_train_size=100", "schedule.T=1.5", "schedule.T_mul=2",
            f"trainer.steps_per_execution={spe}", f"paths.output_dir={out}",
            f"optuna.storage={url}", "optuna.study_name=spe", f"optuna.trial_id={trial._trial_id}")
        run(cfg)
        metrics = json.loads((out / "metrics.json").read_text())
        reported = study._storage.get_trial(trial._trial_id).intermediate_values
        results[spe] = (_history(out / "history.csv"), reported, metrics)
    (h1, r1, m1), (h8, r8, m8) = results[1], results[8]
    assert m1["steps_per_execution"] == 1 and m8["steps_per_execution"] == 8
    assert m1["bn_recalibration_call_seconds"] and len(m8["bn_recalibration_call_seconds"]) == 3
    # 10 steps per epoch, a restart after 15 steps: rates that differ within one execution
    rates = [row["learning_rate"] for row in h1]
    assert len(set(rates)) == 3
    for row1, row8 in zip(h1, h8, strict=True):
        assert row8 == pytest.approx(row1, rel=1e-5, abs=1e-6)
    assert sorted(r1) == sorted(r8) == [1, 2, 3]
    assert [r8[k] for k in sorted(r8)] == pytest.approx([r1[k] for k in sorted(r1)], abs=1e-6)
    for split in ("train", "val", "test"):
        assert m8[split]["loss"] == pytest.approx(m1[split]["loss"], rel=1e-5)
        assert m8[split]["accuracy"] == pytest.approx(m1[split]["accuracy"], abs=1e-9)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n != "default" else n
                                  for n in sorted(CONFIGS)])
def test_the_old_code_path_reproduces_the_recorded_runs_bit_for_bit(data_dir, tmp_path, name) -> None:
    """``threads=all steps_per_execution=1 mixed_precision=float32`` gives exactly the history
    and metrics that the code before these options recorded (tests/reference_runs.py)."""
    reference = json.loads(FIXTURE.read_text())
    if machine() != reference["machine"]:
        pytest.skip(f"the fixture was recorded on {reference['machine']}; this machine is "
                    f"{machine()} (floating-point results depend on both)")
    proc = run_module("fmnist", *CONFIGS[name], *OLD_PATH, f"hydra.run.dir={tmp_path}",
                      "~hydra.callbacks.summary", cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert outcome(tmp_path) == reference["runs"][name]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (metrics["threads"], metrics["steps_per_execution"], metrics["precision_policy"]) == (
        int(reference["machine"]["cores"]), 1, "float32")


def test_a_job_takes_its_share_of_the_cores(data_dir, tmp_path) -> None:
    """A job started by a sweep running 2 jobs on a 2-core machine (auto) uses 1 thread per
    pool, and records it with its precision policy."""
    proc = run_module("fmnist", "data.train_size=100", "data.eval_size=100", "trainer.epochs=1",
                      "trainer.eval_train_size=100", f"hydra.run.dir={tmp_path}",
                      "~hydra.callbacks.summary", cwd=REPO, env={SHARING_ENV: "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    cores = machine_cores()
    assert metrics["threads"] == max(1, cores // 2)
    assert metrics["precision_policy"] == "float32" and metrics["devices"] == ["CPU"]
    assert f"Threads: {max(1, cores // 2)} per pool" in (tmp_path / "fmnist.log").read_text()
