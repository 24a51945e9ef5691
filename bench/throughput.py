"""Trials per hour of the quick preset (``hparams_search=elastic_sgdr_quick``) with the old
default (one job at a time, every core for each job, one step per call, float32) against the
new one (the preset as shipped: ``n_jobs: auto``, ``trainer.threads: auto``, the default
``steps_per_execution``), in interleaved pairs; and the per-epoch figures behind it (threads,
steps per call, precision) for one job of the preset.

Resumable: every measurement is appended to ``--results`` (JSON lines) as it ends, and a
measurement already there is skipped, so a run that was stopped goes on where it was.

    python bench/throughput.py sweeps --pairs 3          # old vs new, interleaved
    python bench/throughput.py epochs --repeats 2        # per-epoch figures
    python bench/throughput.py steps --repeats 6         # steps per call, interleaved epochs
    python bench/throughput.py report                    # medians and ratios so far

Each sweep runs in its own study and directory under ``--out``, with the preset's seeds. The
load average is recorded with each measurement: on a shared machine, say it with the figures.
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PRESET = "hparams_search=elastic_sgdr_quick"
#: the old default, spelled out with the options of issue 23
OLD = ["hydra.sweeper.n_jobs=1", "trainer.threads=all", "trainer.steps_per_execution=1",
       "trainer.mixed_precision=float32"]
NEW: list[str] = []  # the preset as shipped
#: sweeps ``--compare`` can put side by side (default: old against new)
SWEEP_KINDS: dict[str, list[str]] = {
    "old": OLD, "new": NEW,
    # candidates for the new default, measured before they become it
    "new_spe8": ["trainer.steps_per_execution=8"],
    # a new process per trial (sweeper < 0.7): the start-up that resident workers save
    "new_fresh": ["hydra.sweeper.reuse_workers=false"],
    "new_spe16": ["trainer.steps_per_execution=16"],
}
#: one job of the quick preset (its data, epochs, precise BN) with the notebook's values
JOB = ["+experiment=deeper_elastic",
       "data.train_size=6000", "data.eval_size=2000", "trainer.eval_train_size=2000",
       "trainer.bn_recalibration_batches=10", "schedule.T=4", "~hydra.callbacks.summary"]
#: per-epoch variants: name -> overrides
EPOCH_VARIANTS: dict[str, list[str]] = {
    "threads=all spe=1 float32": ["trainer.threads=all", "trainer.steps_per_execution=1",
                                  "trainer.mixed_precision=float32"],
    "threads=1 spe=1 float32": ["trainer.threads=1", "trainer.steps_per_execution=1",
                                "trainer.mixed_precision=float32"],
    "threads=all spe=8 float32": ["trainer.threads=all", "trainer.steps_per_execution=8",
                                  "trainer.mixed_precision=float32"],
    "threads=all spe=16 float32": ["trainer.threads=all", "trainer.steps_per_execution=16",
                                   "trainer.mixed_precision=float32"],
    "threads=all spe=1 mixed_bfloat16": ["trainer.threads=all", "trainer.steps_per_execution=1",
                                         "trainer.mixed_precision=mixed_bfloat16"],
}


def _done(results: Path) -> dict[str, dict[str, Any]]:
    if not results.exists():
        return {}
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return {row["key"]: row for row in rows}


def _append(results: Path, row: dict[str, Any]) -> None:
    with open(results, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def _fmnist(args: list[str], log: Path) -> float:
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run([sys.executable, "-m", "fmnist", *args], cwd=REPO, stdout=out,
                              stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f"fmnist {' '.join(args)} failed: see {log}")
    return time.perf_counter() - started


def sweep(which: str, pair: int, out: Path, trials: int | None) -> dict[str, Any]:
    """One sweep of the preset (old or new) in a study of its own; its wall time, trials per
    hour and best validation accuracy."""
    name = f"{which}_{pair}"
    sweep_dir = out / "sweeps" / name
    storage = f"sqlite:///{out / 'sweeps' / (name + '.db')}"
    extra = [f"hydra.sweeper.n_trials={trials}"] if trials else []
    overrides = [*SWEEP_KINDS[which], *extra]
    load = os.getloadavg()[0]
    wall = _fmnist(["-m", PRESET, f"hydra.sweep.dir={sweep_dir}", f"hydra.sweeper.storage={storage}",
                    f"hydra.sweeper.study_name=throughput_{name}", "~hydra.callbacks.summary",
                    *overrides], out / f"{name}.log")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=f"throughput_{name}", storage=storage)
    states = [t.state.name for t in study.trials]
    done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    best = max((t.value for t in study.trials
                if t.state.name == "COMPLETE" and t.value is not None), default=None)
    return {"which": which, "pair": pair, "overrides": overrides, "wall_seconds": wall,
            "trials": len(done), "complete": states.count("COMPLETE"),
            "pruned": states.count("PRUNED"), "failed": states.count("FAIL"),
            # epochs trained (reported): trials side by side see fewer finished ones to prune by
            "epochs_run": sum(len(t.intermediate_values) for t in done),
            "trials_per_hour": 3600 * len(done) / wall, "best_val_accuracy": best,
            "load_before": load, "load_after": os.getloadavg()[0]}


def epochs(variant: str, repeat: int, out: Path, n_epochs: int) -> dict[str, Any]:
    """One run of the preset's job; its epoch seconds (the first holds tracing: left out)."""
    run_dir = out / "epochs" / f"{variant.replace(' ', '_').replace('=', '-')}_{repeat}"
    load = os.getloadavg()[0]
    _fmnist([*JOB, f"trainer.epochs={n_epochs}", *EPOCH_VARIANTS[variant],
             f"hydra.run.dir={run_dir}"], out / "epoch_run.log")
    import csv

    with open(run_dir / "history.csv") as f:
        seconds = [float(row["seconds"]) for row in csv.DictReader(f)]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"variant": variant, "repeat": repeat, "epoch_seconds": seconds,
            "median_epoch_seconds": statistics.median(seconds[1:] or seconds),
            "threads": metrics.get("threads"), "precision_policy": metrics.get("precision_policy"),
            "val_accuracy": metrics["val"]["accuracy"], "load_before": load,
            "load_after": os.getloadavg()[0]}


def steps_per_call(values: list[int], rounds: int, threads: int) -> dict[str, Any]:
    """Epoch seconds of the deeper CNN (6,016 random 28x28 images, batch 128) for each
    ``steps_per_execution`` in ``values``, one epoch of each in turn for ``rounds`` rounds in
    one process (interleaved: a drift in load hits all alike); the first round (tracing) is
    left out."""
    import keras
    import numpy as np
    import tensorflow as tf

    from fmnist.models import deeper

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    rng = np.random.default_rng(0)
    x, y = rng.random((6016, 28, 28, 1), "float32"), rng.integers(0, 10, 6016)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(128).prefetch(tf.data.AUTOTUNE)
    models = {}
    for spe in values:
        keras.utils.set_random_seed(0)
        model = deeper(input_shape=(28, 28, 1), num_classes=10)
        model.compile("adamax", "sparse_categorical_crossentropy", steps_per_execution=spe)
        models[spe] = model
    seconds: dict[int, list[float]] = {spe: [] for spe in values}
    for _ in range(rounds + 1):
        for spe, model in models.items():
            started = time.perf_counter()
            model.fit(data, epochs=1, verbose=0)
            seconds[spe].append(time.perf_counter() - started)
    return {"threads": threads, "seconds": {str(k): v[1:] for k, v in seconds.items()},
            "median": {str(k): statistics.median(v[1:]) for k, v in seconds.items()}}


def _report_pairs(rows: list[dict[str, Any]]) -> None:
    """Old against new sweeps, pair by pair, and the median ratios."""
    pairs: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if row["kind"] == "sweep":
            pairs.setdefault(row["pair"], {})[row["which"]] = row
    ratios = []
    for pair, both in sorted(pairs.items()):
        if {"old", "new"} <= set(both):
            o, n = both["old"], both["new"]
            ratios.append((n["trials_per_hour"] / o["trials_per_hour"],
                           n["wall_seconds"] / o["wall_seconds"]))
            print(f"pair {pair}: old {o['wall_seconds']:.0f} s ({o['trials_per_hour']:.0f} trials/h, "
                  f"best val {o['best_val_accuracy']}, load {o['load_before']:.1f}-{o['load_after']:.1f}); "
                  f"new {n['wall_seconds']:.0f} s ({n['trials_per_hour']:.0f} trials/h, best val "
                  f"{n['best_val_accuracy']}, load {n['load_before']:.1f}-{n['load_after']:.1f}); "
                  f"trials/h x{ratios[-1][0]:.2f}, wall x{ratios[-1][1]:.2f}")
    if ratios:
        print(f"median of {len(ratios)} pair(s): trials per hour "
              f"x{statistics.median(r[0] for r in ratios):.2f}, "
              f"wall time x{statistics.median(r[1] for r in ratios):.2f}")


def _report_steps(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        if row["kind"] == "steps":
            med = row["median"]
            print(f"steps per call, {row['threads']} thread(s), load {row['load_before']:.1f}: "
                  + ", ".join(f"{k}: {v:.2f} s (x{med['1'] / v:.2f})" for k, v in med.items()))


def _report_epochs(rows: list[dict[str, Any]]) -> None:
    by_variant: dict[str, list[float]] = {}
    for row in rows:
        if row["kind"] == "epochs":
            by_variant.setdefault(row["variant"], []).append(row["median_epoch_seconds"])
    base = by_variant.get("threads=all spe=1 float32")
    for variant, values in by_variant.items():
        median = statistics.median(values)
        ratio = f", x{statistics.median(base) / median:.2f} speed" if base else ""
        print(f"{variant}: median epoch {median:.2f} s over {len(values)} run(s){ratio}")


def report(results: Path) -> None:
    rows = list(_done(results).values())
    _report_pairs(rows)
    _report_steps(rows)
    _report_epochs(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["sweeps", "epochs", "steps", "report"])
    parser.add_argument("--pairs", type=int, default=3, help="interleaved old/new pairs")
    parser.add_argument("--compare", nargs=2, default=["old", "new"], choices=list(SWEEP_KINDS),
                        metavar="KIND", help=f"sweeps: the two kinds of sweep ({', '.join(SWEEP_KINDS)})")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials per sweep (default: the preset's 12)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each epoch variant")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of each epoch run")
    parser.add_argument("--variants", nargs="*", default=list(EPOCH_VARIANTS))
    parser.add_argument("--threads", type=int, default=1, help="threads per pool (steps)")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "bench" / "throughput")
    parser.add_argument("--results", type=Path, default=None,
                        help="JSON lines of results (default: <out>/results.jsonl)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.results or args.out / "results.jsonl"
    done = _done(results)
    if args.what == "sweeps":
        for pair in range(args.pairs):
            # interleaved, the order alternating, so a drift in load hits both alike
            a, b = args.compare
            for which in ((a, b) if pair % 2 == 0 else (b, a)):
                key = f"sweep/{which}/{pair}/{args.trials}"
                if key not in done:
                    _append(results, {"key": key, "kind": "sweep",
                                      **sweep(which, pair, args.out, args.trials)})
    elif args.what == "epochs":
        for repeat in range(args.repeats):
            for variant in args.variants:
                key = f"epochs/{variant}/{repeat}/{args.epochs}"
                if key not in done:
                    _append(results, {"key": key, "kind": "epochs",
                                      **epochs(variant, repeat, args.out, args.epochs)})
    elif args.what == "steps":
        load = os.getloadavg()[0]
        row = steps_per_call([1, 8, 16], args.repeats, args.threads)
        _append(results, {"key": f"steps/{time.time()}", "kind": "steps", **row,
                          "load_before": load, "load_after": os.getloadavg()[0]})
    report(results)


if __name__ == "__main__":
    main()
