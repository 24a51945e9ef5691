"""Per-trial overhead of our sweeper against the official hydra-optuna-sweeper 1.3.0, on a
trivial objective, with the TPE and random samplers, both on a SQLite storage:

    python bench/sweeper_overhead.py [--trials 20 80] [--repeat 2]

The official plugin runs in its own virtual environment (``/tmp/hydra-optuna-sweeper-1.3.0``,
created on first use: it needs ``optuna<3`` and ``sqlalchemy<2``). Each figure is the slope
between two sweep sizes, so process start-up cancels out; it holds everything a trial costs
in a sweeper: asking the sampler, composing the job's config, Hydra's job set-up (run
directory, .hydra/ files), telling the study (ours also: the study lock, the heartbeat
thread, the trial's user attributes). Runs alternate ours/official to share the noise. The
"optuna alone" lines time a bare ask/tell loop in each environment (Optuna 2.10 there, ours
here), to tell the sampler's own cost from the sweeper's.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OFFICIAL_VENV = Path("/tmp/hydra-optuna-sweeper-1.3.0")
OFFICIAL_PACKAGES = ["hydra-optuna-sweeper==1.3.0", "hydra-core==1.3.2", "omegaconf==2.3.0",
                     "optuna==2.10.1", "sqlalchemy<2"]


def official_python() -> Path:
    python = OFFICIAL_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(OFFICIAL_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *OFFICIAL_PACKAGES], check=True)
    return python


def sweep_seconds(python: Path, n: int, sampler: str, directory: Path, tag: str,
                  extra: list[str]) -> float:
    name = f"{tag}-{sampler}-{n}-{time.monotonic_ns()}"
    command = [str(python), str(HERE / "trivial" / "app.py"), "-m", f"hydra.sweeper.n_trials={n}",
               "hydra.sweeper.n_jobs=1", f"hydra/sweeper/sampler={sampler}",
               f"hydra.sweeper.storage=sqlite:///{directory / (name + '.db')}",
               f"hydra.sweeper.study_name={name}", f"hydra.sweep.dir={directory / name}", *extra]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{tag} sweep failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


LOOP = """
import sys, time, warnings
warnings.simplefilter("ignore")
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
url, sampler, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
cls = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}[sampler]
study = optuna.create_study(storage=url, sampler=cls(seed=0))
dist = {"x": optuna.distributions.UniformDistribution(-10, 10)
        if optuna.__version__.startswith("2") else optuna.distributions.FloatDistribution(-10, 10)}
start = time.perf_counter()
for _ in range(n):
    trial = study.ask(dist)
    study.tell(trial, (trial.params["x"] - 2) ** 2)
print((time.perf_counter() - start) / n)
"""


def loop_seconds(python: Path, n: int, sampler: str, directory: Path) -> float:
    """Optuna alone: ask and tell n trials on SQLite (the sampler's and storage's own cost)."""
    url = f"sqlite:///{directory / f'loop-{time.monotonic_ns()}.db'}"
    proc = subprocess.run([str(python), "-c", LOOP, url, sampler, str(n)], capture_output=True,
                          text=True, check=True)
    return float(proc.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, nargs=2, default=[20, 80])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    small, large = args.trials
    ours = Path(sys.executable)
    official = official_python()
    variants = {
        "official 1.3.0": (official, []),
        "ours (defaults)": (ours, []),
        "ours (no heartbeat)": (ours, ["hydra.sweeper.heartbeat_interval=null"]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for sampler in ("tpe", "random"):
            slopes: dict[str, list[float]] = {k: [] for k in variants}
            for _ in range(args.repeat):
                for tag, (python, extra) in variants.items():
                    t_small = sweep_seconds(python, small, sampler, directory, "s", extra)
                    t_large = sweep_seconds(python, large, sampler, directory, "l", extra)
                    slopes[tag].append((t_large - t_small) / (large - small))
            loops = {"official 1.3.0": loop_seconds(official, large, sampler, directory),
                     "ours": loop_seconds(ours, large, sampler, directory)}
            base = statistics.median(slopes["official 1.3.0"])
            for tag, value in loops.items():
                print(f"{sampler:6s} {'optuna alone, ' + tag:28s}: {value * 1000:7.1f} ms per trial "
                      f"(ask + tell, {large} trials)")
            for tag, values in slopes.items():
                per_trial = statistics.median(values)
                runs = ", ".join(f"{v * 1000:.0f}" for v in values)
                print(f"{sampler:6s} {tag:28s}: {per_trial * 1000:7.1f} ms per trial "
                      f"({per_trial / base:.2f}x official; runs {runs})")


if __name__ == "__main__":
    main()
