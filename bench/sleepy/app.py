"""A tiny Hydra app for the launcher tests and ``bench/async_utilisation.py``: it sleeps
``seconds`` in ``steps`` steps, reports to its Optuna trial after each step (so a pruner can
stop it from inside the launched job), and writes where and when it ran to ``ran.json``."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import hydra
import optuna
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig


def _trial(spec: Any) -> optuna.Trial | None:
    """The job's trial, loaded from the storage named by the ``optuna.*`` overrides."""
    if not spec or spec.get("trial_id") is None:
        return None
    from hydra_plugins.fmnist_optuna_sweeper.journal import open_storage

    study = optuna.load_study(study_name=spec.study_name, storage=open_storage(spec.storage))
    pruner = study.user_attrs.get("pruner")
    study.pruner = instantiate(pruner) if pruner else optuna.pruners.NopPruner()
    return optuna.trial.Trial(study, int(spec.trial_id))


@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg: DictConfig) -> float:
    start = time.time()
    record: dict[str, Any] = {
        "pid": os.getpid(), "process": multiprocessing.current_process().name, "start": start,
        "submitit_job_id": os.environ.get("SUBMITIT_LOCAL_JOB_ID") or os.environ.get("SLURM_JOB_ID"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "local_jobs": os.environ.get("OPTUNA_SWEEPER_LOCAL_JOBS"),
    }
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "started.json").write_text(json.dumps(record) + "\n")
    trial = _trial(cfg.get("optuna"))
    value = (float(cfg.x) - 2.0) ** 2
    steps = max(int(cfg.steps), 1)
    try:
        for step in range(1, steps + 1):
            time.sleep(float(cfg.seconds) / steps)
            if trial is not None:
                trial.report(value, step)
                if trial.should_prune():
                    record["pruned_at"] = step
                    raise optuna.TrialPruned(f"pruned at step {step}")
    finally:
        record["end"] = time.time()
        (out / "ran.json").write_text(json.dumps(record) + "\n")
    if cfg.fail:
        raise RuntimeError("asked to fail")
    return value


if __name__ == "__main__":
    main()
