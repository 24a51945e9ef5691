"""The recorder: trains configurations sampled from a preset's search space on a reduced
problem, in this process (one TensorFlow start), and appends each one's per-epoch validation
accuracy, epoch seconds and final test accuracy to the replay table.

Configuration ``i`` is the ``i``-th draw of a seeded random sampler over the space (the
preset's enqueued configurations come first), so the list is the same on every run: a resumed
recorder skips the ids already in the table and goes on with the next. Every configuration runs
its full budget (no pruner): a replay prunes the curves itself.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra_plugins.fmnist_optuna_sweeper.search_space import active, suggest

from sweep_quality.preset import CONF, Preset
from sweep_quality.table import Recorded, append, read_meta, read_table, write_meta

__all__ = ["configurations", "record"]

log = logging.getLogger(__name__)


def configurations(preset: Preset, count: int, seed: int) -> list[dict[str, Any]]:
    """The first ``count`` configurations of the space: the preset's enqueued ones, then
    seeded random draws (conditional parameters only where active)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = [dict(e) for e in preset.enqueue][:count]
    while len(out) < count:
        trial = study.ask()
        values: dict[str, Any] = {}
        for param in preset.space.params:
            if active(param, values):
                values[param.name] = suggest(trial, param)
        study.tell(trial, 0.0)
        out.append(values)
    return out


def _overrides(preset: Preset, params: dict[str, Any], out: Path) -> list[str]:
    return [f"hparams_search={preset.name}", *preset.overrides, *preset.space.fixed,
            *(f"{preset.space.key(n)}={v}" for n, v in params.items()),
            "trainer.verbose=0", f"paths.output_dir={out}"]


def _train(preset: Preset, params: dict[str, Any], work: Path) -> tuple[list[float], list[float], float]:
    """One configuration, trained in this process: (val accuracy per epoch, seconds per epoch,
    test accuracy)."""
    import csv

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from fmnist.app import run

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", _overrides(preset, params, work))
    GlobalHydra.instance().clear()
    run(cfg)
    with (work / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    metrics = json.loads((work / "metrics.json").read_text())
    return ([float(r["val_accuracy"]) for r in rows], [float(r["seconds"]) for r in rows],
            float(metrics["test"]["accuracy"]))


def record(table: Path, preset: Preset, count: int, *, seed: int = 0,
           deadline: float | None = None) -> int:
    """Trains configurations ``0..count-1`` not yet in ``table`` and appends each as it ends;
    stops before starting one after ``deadline`` (``time.time()``). Returns how many it added.

    The table's JSON sidecar must describe the same preset and reduced problem, or the table
    would mix curves of different problems: that is an error."""
    from fmnist.quiet import import_tensorflow

    import_tensorflow()
    meta = {"preset": preset.name, "overrides": list(preset.overrides), "seed": seed,
            "epochs": preset.epochs, "space": {p.name: str(p.distribution) for p in preset.space.params}}
    old = read_meta(table)
    if old and {k: old.get(k) for k in meta} != meta:
        raise ValueError(f"{table} was recorded with {old}, not {meta}: use another --table")
    write_meta(table, meta)
    done = {r.config for r in read_table(table)} if table.exists() else set()
    names = [p.name for p in preset.space.params]
    added = 0
    for config, params in enumerate(configurations(preset, count, seed)):
        if config in done:
            continue
        if deadline is not None and time.time() > deadline:
            break
        work = Path(tempfile.mkdtemp(prefix=f"sweep-quality-{config}-"))
        started = time.perf_counter()
        try:
            values, seconds, test = _train(preset, params, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        append(table, [Recorded(config, params, tuple(values), tuple(seconds), test)], names)
        added += 1
        log.info("config %d: val %s, test %.4f, %.0f s", config,
                 " ".join(f"{v:.3f}" for v in values), test, time.perf_counter() - started)
        print(f"recorded config {config}: best val {max(values):.4f}, test {test:.4f}, "
              f"{sum(seconds):.0f} s", flush=True)
    return added


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m sweep_quality.record`` (see bench/sweep_quality.py --record)."""
    raise SystemExit("use: python bench/sweep_quality.py --record")
