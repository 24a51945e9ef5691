"""Sweeper overhead per trial on a trivial objective, against a plain ``study.optimize`` loop
on the same kind of storage (SQLite in a temporary directory):

    python bench/sweeper_overhead.py [--trials 20 80]

Our per-trial time is the slope between two sweep sizes, so process start-up cancels out. It
includes everything a trial costs in the sweeper: composing the job's config, Hydra's job
set-up (run directory, .hydra/ files), the heartbeat, and the study lock.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

HERE = Path(__file__).resolve().parent


def plain_seconds_per_trial(n: int, directory: Path) -> float:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{directory / 'plain.db'}"
    study = optuna.create_study(study_name="plain", storage=storage, direction="minimize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    start = time.perf_counter()
    study.optimize(lambda t: (t.suggest_float("x", -10, 10) - 2.0) ** 2, n_trials=n)
    return (time.perf_counter() - start) / n


def sweep_seconds(n: int, directory: Path) -> float:
    storage = f"sqlite:///{directory / f'sweep{n}.db'}"
    command = [sys.executable, str(HERE / "trivial" / "app.py"), "-m",
               f"hydra.sweeper.n_trials={n}", f"hydra.sweeper.storage={storage}",
               f"hydra.sweep.dir={directory / f'sweep{n}'}"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, nargs=2, default=[20, 80])
    args = parser.parse_args()
    small, large = args.trials
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        plain = plain_seconds_per_trial(large, directory)
        t_small = sweep_seconds(small, directory)
        t_large = sweep_seconds(large, directory)
    ours = (t_large - t_small) / (large - small)
    print(f"plain study.optimize, SQLite: {plain * 1000:8.1f} ms per trial")
    print(f"fmnist sweeper, SQLite      : {ours * 1000:8.1f} ms per trial "
          f"(sweeps of {small} and {large} trials took {t_small:.1f} s and {t_large:.1f} s)")
    print(f"sweeper overhead: {ours / plain:.1f}x plain, {(ours - plain) * 1000:.1f} ms more per trial")


if __name__ == "__main__":
    main()
