"""Precise BatchNorm at full data: ``+experiment=deeper`` shortened to a few epochs on all
54,000 training images, with and without recalibration, runs interleaved (off, on, off, on,
...). Prints per-epoch validation accuracy, final test accuracy, epoch seconds and the
recalibration's cost as a share of the epoch. CPU-heavy: minutes per run.

    FMNIST_DATA_DIR=../shared/data/fashion-mnist .venv/bin/python bench/precise_bn.py \
        --epochs 3 --pairs 1
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(out: Path, batches: int | None, epochs: int) -> dict[str, object]:
    setting = "null" if batches is None else str(batches)
    subprocess.run(
        [sys.executable, "-m", "fmnist", "+experiment=deeper", f"trainer.epochs={epochs}",
         f"trainer.bn_recalibration_batches={setting}", f"hydra.run.dir={out}",
         "trainer.verbose=0"],
        check=True, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = json.loads((out / "metrics.json").read_text())
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    return {"val": [float(r["val_accuracy"]) for r in rows],
            "train": [float(r["accuracy"]) for r in rows],
            "epoch_seconds": [float(r["seconds"]) for r in rows],
            "test": metrics["test"]["accuracy"], "bn_seconds": metrics["bn_recalibration_seconds"],
            "bn_calls": metrics["bn_recalibration_call_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=1)
    parser.add_argument("--batches", type=int, default=50, help="recalibration batches")
    args = parser.parse_args()
    results: dict[str, list[dict[str, object]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.pairs):
            for name, batches in (("off", None), ("on", args.batches)):
                results[name].append(_run(Path(tmp) / f"{name}{i}", batches, args.epochs))
                r = results[name][-1]
                print(f"{name:3} pair {i}: val acc by epoch "
                      f"{', '.join(f'{v:.4f}' for v in r['val'])}; "  # type: ignore[attr-defined]
                      f"train (training mode) {', '.join(f'{v:.4f}' for v in r['train'])}; "  # type: ignore[attr-defined]
                      f"test {r['test']:.4f}; epoch s "
                      f"{', '.join(f'{v:.1f}' for v in r['epoch_seconds'])}; "  # type: ignore[attr-defined]
                      f"recalibration s per epoch "
                      f"{', '.join(f'{v:.2f}' for v in r['bn_calls'])}", flush=True)  # type: ignore[attr-defined]
    # each recalibration against the epoch it ran in (same machine load; the epoch's seconds
    # include it), so drifting load on a shared machine cancels out
    shares = [c / e for r in results["on"]
              for c, e in zip(r["bn_calls"], r["epoch_seconds"], strict=True)]  # type: ignore[call-overload]
    print(f"recalibration ({args.batches} batches): share of its epoch "
          f"{', '.join(f'{v:.1%}' for v in shares)} (the first includes tracing); median "
          f"{statistics.median(shares):.1%}")

if __name__ == "__main__":
    main()
