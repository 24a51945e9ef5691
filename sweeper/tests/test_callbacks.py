"""How a job's end becomes a trial state (pure function over Hydra's JobReturn)."""

from __future__ import annotations

import importlib
import math

import optuna
import pytest
from hydra.core.utils import JobReturn, JobStatus


def _outcome(ret: JobReturn) -> dict:
    module = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.callbacks")
    return module.outcome_from_job_return(ret)


def _ret(value, status=JobStatus.COMPLETED) -> JobReturn:
    ret = JobReturn()
    ret.status = status
    ret._return_value = value
    return ret


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.75, {"state": "COMPLETE", "values": [0.75]}),
        ((0.75, 12.5), {"state": "COMPLETE", "values": [0.75, 12.5]}),
        (3, {"state": "COMPLETE", "values": [3.0]}),
    ],
)
def test_completed_jobs(value, expected) -> None:
    assert _outcome(_ret(value)) == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, (0.5, math.nan)])
def test_non_finite_values_fail_the_trial(value) -> None:
    outcome = _outcome(_ret(value))
    assert outcome["state"] == "FAIL" and "non-finite" in outcome["error"]


def test_non_numeric_value_fails_the_trial() -> None:
    outcome = _outcome(_ret("good"))
    assert outcome["state"] == "FAIL" and "'good', not a number" in outcome["error"]


def test_exceptions_fail_and_pruning_prunes() -> None:
    failed = _outcome(_ret(ValueError("alpha must be >= 0, got alpha=-3"), JobStatus.FAILED))
    assert failed == {"state": "FAIL", "error": "ValueError: alpha must be >= 0, got alpha=-3",
                      # an exception without frames (as one that crossed processes): its last line
                      "traceback": "ValueError: alpha must be >= 0, got alpha=-3\n"}
    pruned = _outcome(_ret(optuna.TrialPruned("pruned at epoch 2"), JobStatus.FAILED))
    assert pruned == {"state": "PRUNED", "error": "pruned at epoch 2"}
