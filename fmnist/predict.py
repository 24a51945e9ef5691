"""Predictions from a trained run directory, and the Kaggle submission CSV.

    python -m fmnist.predict RUN_DIR FILE [--output submission.csv] [--probabilities]

``FILE`` is a ``.npy`` in the notebook's format (``features`` and ``id``) or an IDX image file.
The CSV has the notebook's columns ``id,target`` with targets in the original class values
(e.g. 1..5), from the run's ``labels.json``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hydra_plugins.fmnist_optuna_sweeper import atomic

from fmnist.data import load_labels, load_prediction_file
from fmnist.errors import DataError, run_cli

__all__ = ["load_model_file", "main", "predict_run", "write_submission"]


def load_model_file(path: Path, compile: bool = True) -> Any:
    """A run's ``model.keras``, loaded in Keras' safe mode (no lambdas, only Keras' and this
    project's registered classes); a damaged or foreign file is a :class:`DataError` naming it."""
    from fmnist.quiet import import_tensorflow

    import_tensorflow()  # before Keras: its start-up block stays off stderr
    import keras

    # register this project's layers and loss for loading
    import fmnist.augment
    import fmnist.erasing
    import fmnist.losses  # noqa: F401

    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (ValueError, TypeError, OSError, KeyError, AttributeError, EOFError) as exc:
        text = " ".join(str(exc).split())
        raise DataError(f"{path} is not a model this project can load: "
                        f"{type(exc).__name__}: {text[:300]}") from exc


def write_submission(
    path: str | Path,
    ids: np.ndarray,
    probs: np.ndarray,
    class_values: Sequence[Any],
    probabilities: bool = False,
) -> Path:
    """Write ``id,target`` rows (original class values), plus ``p_<value>`` columns when
    ``probabilities``."""
    path = Path(path)
    if probs.shape[1] != len(class_values):
        raise DataError(
            f"the model predicts {probs.shape[1]} classes, the label mapping has "
            f"{len(class_values)}: {list(class_values)}"
        )
    predicted = probs.argmax(axis=1)
    # Written beside the target and renamed over it at the end: a failure (or a kill) part way
    # leaves the previous file, or none, never a partial CSV.
    with atomic.atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")  # csv's default ends lines with \r\n
        header = ["id", "target"] + ([f"p_{v}" for v in class_values] if probabilities else [])
        writer.writerow(header)
        for i, k, row in zip(ids.tolist(), predicted.tolist(), probs, strict=True):
            writer.writerow([i, class_values[k]]
                            + ([f"{p:.6f}" for p in row] if probabilities else []))
    return path


def predict_run(
    run_dir: str | Path, file: str | Path, output: str | Path | None = None,
    probabilities: bool = False, batch_size: int = 512,
) -> Path:
    """Load ``run_dir/model.keras`` and its label mapping, predict ``file``, write the CSV."""
    from fmnist.quiet import import_tensorflow

    import_tensorflow()  # before fmnist.train and Keras: its start-up block stays off stderr
    from fmnist.train import predict_probabilities

    run_dir = Path(run_dir)
    model_path, labels_path = run_dir / "model.keras", run_dir / "labels.json"
    for p in (model_path, labels_path):
        if not p.is_file():
            raise DataError(f"{run_dir} is not a finished run directory: {p.name} is missing")
    class_values, _ = load_labels(labels_path)
    model = load_model_file(model_path)
    expected = tuple(model.input_shape[1:3])
    x, ids = load_prediction_file(file, image_shape=expected)
    n_out = int(model.output_shape[-1])
    if n_out != len(class_values):
        raise DataError(
            f"{model_path} predicts {n_out} classes but {labels_path} maps {len(class_values)}"
        )
    probs = predict_probabilities(model, x, batch_size)
    return write_submission(output or run_dir / "submission.csv", ids, probs, class_values,
                            probabilities)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmnist.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="a finished run directory (holds model.keras)")
    parser.add_argument("file", help="images to predict: notebook .npy (features, id) or IDX")
    parser.add_argument("-o", "--output", help="CSV path (default: RUN_DIR/submission.csv)")
    parser.add_argument("--probabilities", action="store_true", help="add p_<class> columns")
    args = parser.parse_args(argv)
    return run_cli(lambda: predict_run(args.run_dir, args.file, args.output, args.probabilities))


if __name__ == "__main__":
    sys.exit(main())
