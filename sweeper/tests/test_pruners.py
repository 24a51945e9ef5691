"""The allowlist that keeps a job from running anything named by the storage: a study's
``pruner`` attribute builds only Optuna's own pruners, with plain arguments."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from hydra_plugins.fmnist_optuna_sweeper import pruners
from hydra_plugins.fmnist_optuna_sweeper.job import open_trial

# (pruners.X is looked up when a test runs: Hydra's plugin scan executes the sweeper's modules
# again, which makes new exception classes)
MEDIAN = "optuna.pruners.MedianPruner"


def test_the_spec_a_sweep_stores_is_the_resolved_config_without_nulls() -> None:
    from omegaconf import OmegaConf

    node = OmegaConf.create({"_target_": MEDIAN, "n_warmup_steps": "${oc.decode:'2'}",
                             "n_startup_trials": None})
    assert pruners.pruner_spec(node) == {"_target_": MEDIAN, "n_warmup_steps": 2}
    assert pruners.pruner_spec(optuna.pruners.NopPruner()) is None


def test_nested_pruners_are_allowed() -> None:
    pruner = pruners.pruner_from_spec({"_target_": "optuna.pruners.PatientPruner", "patience": 2,
                               "wrapped_pruner": {"_target_": MEDIAN, "n_warmup_steps": 3}})
    assert isinstance(pruner, optuna.pruners.PatientPruner)
    assert isinstance(pruners.pruner_from_spec(None), optuna.pruners.NopPruner)


@pytest.mark.parametrize("spec", [
    {"_target_": "os.system", "command": "touch {out}"},
    {"_target_": "tensorflow.io.write_file", "filename": "{out}", "contents": "x"},
    {"_target_": "builtins.open", "file": "{out}", "mode": "w"},
    {"_target_": "optuna.pruners.PatientPruner", "patience": 1,
     "wrapped_pruner": {"_target_": "os.system", "command": "touch {out}"}},
    {"_target_": MEDIAN, "n_warmup_steps": {"_target_": "os.system", "command": "touch {out}"}},
    {"_target_": MEDIAN, "_args_": ["touch {out}"]},
    {"_target_": MEDIAN, "n_warmup_steps": ["touch {out}"]},
    "os.system",
])
def test_a_pruner_attribute_runs_nothing_else(tmp_path: Path, spec) -> None:
    out = tmp_path / "written"
    spec = json.loads(json.dumps(spec).replace("{out}", str(out)))  # with the real path
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    study.set_user_attr("pruner", spec)
    trial = study.ask()
    with pytest.raises(pruners.UnsafePrunerSpec):  # where a job opens its trial
        open_trial(storage, "s", trial._trial_id)
    assert not out.exists()


def test_bad_arguments_of_an_allowed_pruner_are_pruner_spec_errors() -> None:
    with pytest.raises(pruners.PrunerSpecError, match="n_warmup"):
        pruners.pruner_from_spec({"_target_": MEDIAN, "n_warmup": 2})
