"""Reference runs for the bit-for-bit check of ``trainer.threads=all
trainer.steps_per_execution=1 trainer.mixed_precision=float32`` (issue 23): the history and
metrics of two tiny runs as the code before those options produced them.

The fixture was written by this script on commit a144243 (before the options existed):

    python -m tests.reference_runs tests/fixtures/reference_runs.json

Floating-point results depend on the CPU's kernels (oneDNN picks them by instruction set) and
on TensorFlow's version, so the fixture records both, and the test skips, saying why, on
another CPU or TensorFlow.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: name -> overrides common to the old and the new code
CONFIGS: dict[str, list[str]] = {
    # today's default run (brief CNN, Adam, constant rate), shrunk
    "default": ["data.train_size=600", "data.eval_size=200", "trainer.epochs=2",
                "trainer.batch_size=32"],
    # a job of the quick preset: deeper + elastic + SGDR per batch + Adamax + precise BN
    "quick_job": ["+experiment=deeper_elastic", "data.train_size=600", "data.eval_size=200",
                  "trainer.epochs=2", "trainer.batch_size=64", "trainer.eval_train_size=200",
                  "trainer.bn_recalibration_batches=3", "schedule.T=2"],
}


def machine() -> dict[str, str]:
    """What the floating-point results depend on: TensorFlow's version and the CPU."""
    import tensorflow as tf

    flags = model = ""
    if os.path.exists("/proc/cpuinfo"):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = " ".join(sorted(line.split(":", 1)[1].split()))
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
    return {"tensorflow": tf.__version__, "cpu": model or platform.processor(),
            "cores": str(os.cpu_count()), "cpu_flags_sha1": hashlib.sha1(flags.encode()).hexdigest()}


def outcome(run_dir: Path) -> dict[str, Any]:
    """The history (less wall-clock seconds) and metrics (less timings) of a run."""
    with open(run_dir / "history.csv") as f:
        history = [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"history": history,
            "metrics": {k: metrics[k] for k in ("train", "val", "test", "epochs", "best_epoch")}}


def run(overrides: list[str], run_dir: Path, cwd: Path) -> dict[str, Any]:
    """One run of ``python -m fmnist`` (a fresh process: TensorFlow's thread pools as a user
    gets them) into ``run_dir``."""
    proc = subprocess.run(
        [sys.executable, "-m", "fmnist", *overrides, f"hydra.run.dir={run_dir}",
         "~hydra.callbacks.summary"],
        cwd=cwd, text=True, capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"fmnist {' '.join(overrides)} failed:\n{proc.stderr[-3000:]}")
    return outcome(run_dir)


def main(path: str) -> None:
    repo = Path(__file__).resolve().parents[1]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, text=True,
                            capture_output=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {name: run(overrides, Path(tmp) / name, repo) for name, overrides in CONFIGS.items()}
    Path(path).write_text(json.dumps({"commit": commit, "machine": machine(), "runs": runs},
                                     indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
