"""A tiny Hydra app for the sweeper's launcher tests and ``bench/async_utilisation.py``: it sleeps
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
from hydra_plugins.fmnist_optuna_sweeper.job import trial_of
from omegaconf import DictConfig


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
    trial = trial_of(cfg.get("optuna"))  # the sweeper's job side: None outside a sweep
    value = (float(cfg.x) - 2.0) ** 2
    steps = max(int(cfg.steps), 1)
    try:
        for step in range(1, steps + 1):
            time.sleep(float(cfg.seconds) / steps)
            if trial is not None:
                trial.report(step, value)
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
