"""Scoring a saved model again, on its own data or another dataset.

    python -m fmnist.evaluate RUN_DIR [data overrides] [--split test] [--output DIR]

Reads ``RUN_DIR/model.keras`` and the run's composed config (``.hydra/config.yaml``), applies
``data.*`` overrides (``data.eval_size=1000``, ``data=kaggle data.path=...``-style keys such as
``data.directory=/elsewhere``), loads the data as the run did and writes, into
``RUN_DIR/evaluation/`` (or ``--output``): ``metrics.json`` (the same metrics as the run's:
loss, accuracy, precision / recall / F1 macro and weighted per split), and the split's
``confusion_matrix.csv`` / ``.png``.

A run directory is data: the data loader is rebuilt only from this project's own targets
(:mod:`fmnist.targets`), checked before anything is imported or read; ``--allow-target
module.function`` adds one of your own.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from hydra_plugins.fmnist_optuna_sweeper import atomic
from omegaconf import DictConfig, OmegaConf

from fmnist.errors import ConfigError, DataError, run_cli

__all__ = ["evaluate_run", "main"]


def _run_config(run_dir: Path, overrides: Sequence[str]) -> DictConfig:
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        raise DataError(f"{run_dir} is not a run directory: {path} is missing")
    cfg = OmegaConf.load(path)
    assert isinstance(cfg, DictConfig)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("data."):
            raise ConfigError(f"overrides must be data.KEY=VALUE, got {item!r}")
        OmegaConf.update(cfg, key, yaml.safe_load(value) if value else None, force_add=True)
    return cfg


def evaluate_run(run_dir: str | Path, overrides: Sequence[str] = (), splits: Sequence[str] = ("test",),
                 output: str | Path | None = None, batch_size: int = 256,
                 allow_targets: Sequence[str] = ()) -> Path:
    """Score ``run_dir``'s model on ``splits`` of its data (with ``overrides``); returns the
    written ``metrics.json``. The run's ``data`` node may name only this project's targets (and
    ``allow_targets``)."""
    from fmnist.quiet import import_tensorflow
    from fmnist.targets import check_targets, safe_instantiate, shipped_targets

    run_dir = Path(run_dir)
    cfg = _run_config(run_dir, overrides)
    allowed = shipped_targets() | frozenset(allow_targets)
    if not isinstance(cfg.get("data"), DictConfig):
        raise DataError(f"{run_dir}/.hydra/config.yaml has no data section to rebuild the data from")
    data_cfg = check_targets(cfg.data, "data", allowed)  # before TensorFlow, data or model
    model_path = run_dir / "model.keras"
    if not model_path.is_file():
        raise DataError(f"{model_path} is missing: the run saved no model (failed or killed?)")

    import_tensorflow()
    from fmnist.artifacts import save_confusion
    from fmnist.data import load_labels
    from fmnist.metrics import classification_metrics, confusion_matrix
    from fmnist.predict import load_model_file
    from fmnist.train import predict_probabilities

    data = safe_instantiate(data_cfg, "data", allowed)
    if (run_dir / "labels.json").is_file():
        values, _ = load_labels(run_dir / "labels.json")
        if [str(v) for v in values] != [str(v) for v in data.class_values]:
            raise DataError(f"the data's classes {data.class_values} differ from the run's {values}")
    model = load_model_file(model_path, compile=False)
    out = Path(output) if output is not None else run_dir / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"run_dir": str(run_dir), "model": str(model_path),
                              "data_overrides": list(overrides), "source": data.source}
    for split in splits:
        x, y = data.split(split)
        probs = predict_probabilities(model, x, batch_size)
        if probs.shape[1] != data.num_classes:
            raise DataError(f"the model predicts {probs.shape[1]} classes, the data has "
                            f"{data.num_classes}")
        result[split] = classification_metrics(y, probs, data.num_classes)
        result[split]["images"] = len(y)
        cm = confusion_matrix(y, probs.argmax(axis=1), data.num_classes)
        save_confusion(out / f"confusion_matrix_{split}", cm, data.class_names,
                       title=f"{split} confusion matrix (row-normalised)")
    path = out / "metrics.json"
    atomic.write_text(path, json.dumps(result, indent=2, default=float) + "\n")
    for split in splits:
        print(f"{split}: accuracy {result[split]['accuracy']:.4f}, F1 (macro) "
              f"{result[split]['f1_macro']:.4f}, loss {result[split]['loss']:.4f} "
              f"({result[split]['images']} images)")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fmnist.evaluate",
        description="Score a run's saved model on its data or another dataset (data.* overrides).")
    parser.add_argument("run_dir", help="a run directory (holds model.keras and .hydra/)")
    parser.add_argument("overrides", nargs="*", help="data.KEY=VALUE, e.g. data.eval_size=1000")
    parser.add_argument("--split", action="append", choices=["train", "val", "test"],
                        help="split(s) to score (default: test)")
    parser.add_argument("-o", "--output", help="where to write (default: RUN_DIR/evaluation)")
    parser.add_argument("--allow-target", action="append", default=[], metavar="MODULE.NAME",
                        help="a _target_ of your own that the run's data config may name "
                             "(default: only this project's, from its conf/ YAML files)")
    args = parser.parse_args(argv)
    return run_cli(lambda: evaluate_run(args.run_dir, args.overrides, args.split or ["test"],
                                        args.output, allow_targets=args.allow_target))


if __name__ == "__main__":
    sys.exit(main())
