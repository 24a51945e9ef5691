"""How well ``n_jobs`` launcher slots are used when trials take uneven times.

The same jobs (the sleepy app, ``sweeper/example/sleepy``, sleeping seconds drawn from 1-10 s) run twice
through the same Hydra launcher with 4 slots:

* ours: the fmnist Optuna sweeper, ``n_jobs=4``: each worker hands the launcher one job and
  takes the next trial as soon as its job ends;
* batches of 4: Hydra's basic sweeper with ``max_batch_size=4``, which launches 4 jobs and
  waits for the slowest before the next 4 (what the official Optuna sweeper plugin does with
  ``n_jobs=4``).

It prints each wall time (the whole command, start-up included) against the ideal, total
work / 4, and against the best any one-job-at-a-time-per-slot scheduler can do for this order
(greedy list scheduling).

    .venv/bin/python bench/async_utilisation.py [--launcher joblib|submitit_local] [--trials 16]
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "sweeper" / "example" / "sleepy" / "app.py"
SLOTS = 4


def _launcher_args(launcher: str) -> list[str]:
    args = [f"hydra/launcher={launcher}"]
    if launcher == "joblib":
        args.append(f"hydra.launcher.n_jobs={SLOTS}")
    return args


def _run(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, the time.time() it started)."""
    started = time.time()
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return wall, started


def _jobs(sweep: Path) -> list[tuple[float, float]]:
    """(start, end) of each job, from its own ``ran.json``, in start order."""
    return sorted((r["start"], r["end"]) for r in
                  (json.loads(p.read_text()) for p in sweep.glob("*/ran.json")))


def hand_offs(jobs: list[tuple[float, float]], slots: int) -> list[float]:
    """For each job after the first ``slots``: seconds between the end of the job whose slot
    it took (the earliest-ending one still unclaimed) and its own start."""
    free = sorted(end for _, end in jobs[:slots])
    gaps = []
    for start, end in jobs[slots:]:
        gaps.append(start - heapq.heappop(free))
        heapq.heappush(free, end)
    return gaps


def greedy_makespan(durations: list[float], slots: int) -> float:
    """Finish time when each job, in order, goes to the first slot that frees up."""
    free = [0.0] * slots
    for d in durations:
        heapq.heapreplace(free, free[0] + d)
    return max(free)


def batched_makespan(durations: list[float], slots: int) -> float:
    """Finish time in batches of ``slots`` that each wait for their slowest job."""
    return sum(max(durations[i:i + slots]) for i in range(0, len(durations), slots))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launcher", default="joblib", choices=["joblib", "submitit_local"])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seconds = [round(rng.uniform(1, 10), 2) for _ in range(args.trials)]
    work = sum(seconds)
    with tempfile.TemporaryDirectory(prefix="fmnist-async-") as tmp:
        root = Path(tmp)
        enqueue = "[" + ",".join(f"{{seconds:{s}}}" for s in seconds) + "]"
        ours, ours_started = _run([sys.executable, str(APP), "-m", *_launcher_args(args.launcher),
                     f"hydra.sweep.dir={root / 'ours'}", f"hydra.sweeper.storage=journal://{root / 'j.log'}",
                     f"hydra.sweeper.n_trials={args.trials}", f"hydra.sweeper.n_jobs={SLOTS}",
                     "~hydra.sweeper.params.x", "+hydra.sweeper.params.seconds='interval(1, 10)'",
                     f"hydra.sweeper.enqueue={enqueue}", "steps=1"], root)
        ours_jobs = _jobs(root / "ours")
        batches, _ = _run([sys.executable, str(APP), "--config-name=plain", "-m",
                        *_launcher_args(args.launcher), f"hydra.sweeper.max_batch_size={SLOTS}",
                        f"hydra.sweep.dir={root / 'batches'}", "steps=1",
                        "seconds=" + ",".join(str(s) for s in seconds)], root)
        batch_jobs = _jobs(root / "batches")
    ideal = work / SLOTS
    print(f"launcher {args.launcher}, {SLOTS} slots, {args.trials} trials sleeping "
          f"{min(seconds)}-{max(seconds)} s (seed {args.seed}), total work {work:.1f} s")
    print(f"  measured job time: ours {sum(e - s for s, e in ours_jobs):.1f} s over "
          f"{len(ours_jobs)} jobs, batches {sum(e - s for s, e in batch_jobs):.1f} s over "
          f"{len(batch_jobs)} jobs")
    gaps = sorted(hand_offs(ours_jobs, SLOTS))
    print(f"  ours: first job started {ours_jobs[0][0] - ours_started:.1f} s after the command; "
          f"a freed slot took its next job after {sum(gaps) / len(gaps):.2f} s on average "
          f"(median {gaps[len(gaps) // 2]:.2f}, max {gaps[-1]:.2f}); the last job ended "
          f"{ours_started + ours - max(e for _, e in ours_jobs):.1f} s before the command did")
    print(f"  ideal (work / {SLOTS})            {ideal:6.1f} s")
    print(f"  greedy list schedule (bound)    {greedy_makespan(seconds, SLOTS):6.1f} s  "
          f"{greedy_makespan(seconds, SLOTS) / ideal:.2f}x ideal")
    print(f"  batches of {SLOTS}, computed         {batched_makespan(seconds, SLOTS):6.1f} s  "
          f"{batched_makespan(seconds, SLOTS) / ideal:.2f}x ideal")
    print(f"  ours (fmnist sweeper, n_jobs={SLOTS}) {ours:6.1f} s  {ours / ideal:.2f}x ideal")
    print(f"  batches of {SLOTS} (basic sweeper)   {batches:6.1f} s  {batches / ideal:.2f}x ideal")
    print(f"  ours / batches                  {ours / batches:.2f}")


if __name__ == "__main__":
    main()
