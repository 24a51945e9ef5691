"""Train ``+experiment=tuned`` (or any experiment) at full size once per seed and tabulate the
test accuracy: the figure issue 17 is judged by (mean over 3 seeds).

Runs go to ``<out>/seed-<S>/`` (resumable: a seed whose ``metrics.json`` says ``completed`` is
not trained again). ``--jobs 3`` trains the seeds side by side
(small CNNs do not scale across cores).

    python bench/tuned_seeds.py --seeds 0 1 2 --jobs 3 --out outputs/tuned_seeds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _done(run: Path) -> dict | None:
    try:
        metrics = json.loads((run / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return metrics if metrics.get("status") == "completed" else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="tuned")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None,
                        help="TF_NUM_INTRAOP_THREADS per run (default: TensorFlow's own)")
    parser.add_argument("--out", type=Path, default=Path("outputs/tuned_seeds"))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides on top of the experiment")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.threads:
        env["TF_NUM_INTRAOP_THREADS"] = str(args.threads)
    todo = [s for s in args.seeds if _done(args.out / f"seed-{s}") is None]
    running: list[tuple[int, subprocess.Popen[bytes], float]] = []
    while todo or running:
        while todo and len(running) < args.jobs:
            seed = todo.pop(0)
            run = (args.out / f"seed-{seed}").resolve()
            run.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-m", "fmnist", f"+experiment={args.experiment}",
                       f"seed={seed}", f"hydra.run.dir={run}", "trainer.verbose=2", *args.overrides]
            print(f"seed {seed}: {' '.join(command[1:])}", flush=True)
            log = open(run / "console.log", "wb")  # noqa: SIM115 (closed with the process)
            running.append((seed, subprocess.Popen(command, env=env, stdout=log, stderr=log),
                            time.perf_counter()))
        time.sleep(5)
        for item in list(running):
            seed, proc, started = item
            if proc.poll() is not None:
                running.remove(item)
                print(f"seed {seed}: exit {proc.returncode} after {time.perf_counter() - started:.0f} s",
                      flush=True)
    rows = []
    for seed in args.seeds:
        metrics = _done(args.out / f"seed-{seed}")
        if metrics is None:
            print(f"seed {seed}: not completed (see {args.out / f'seed-{seed}' / 'console.log'})")
            continue
        rows.append((seed, metrics["test"]["accuracy"], metrics["test"]["f1_macro"],
                     metrics["params"], metrics["epochs"], metrics["wall_seconds"]))
    print("| seed | test accuracy | test F1 (macro) | parameters | epochs | wall seconds |")
    print("|---|---|---|---|---|---|")
    for seed, acc, f1, params, epochs, wall in rows:
        print(f"| {seed} | {acc:.4f} | {f1:.4f} | {params:,} | {epochs} | {wall:.0f} |")
    if len(rows) >= 2:
        accs = [r[1] for r in rows]
        print(f"mean test accuracy {statistics.mean(accs):.4f} +- {statistics.stdev(accs):.4f} "
              f"over {len(rows)} seeds")


if __name__ == "__main__":
    main()
