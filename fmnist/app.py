"""The training job: ``run(cfg)`` reads top to bottom — seed, data, augmentation, model,
compile, fit, evaluate, write artifacts, return the optimised metric."""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import keras
import numpy as np
import optuna
import pandas as pd
import tensorflow as tf
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from hydra_plugins.fmnist_optuna_sweeper import atomic
from omegaconf import DictConfig
from sklearn.model_selection import train_test_split

from fmnist import plots
from fmnist.augment import build_augmentation
from fmnist.data import Splits, save_labels
from fmnist.divergence import StopOnNonFinite
from fmnist.ema import EMAWeights, uses_ema
from fmnist.errors import ConfigError, TrainingDiverged
from fmnist.losses import training_loss
from fmnist.metrics import (
    SPLITS,
    available_metrics,
    classification_metrics,
    confusion_matrix,
    flatten,
    objective_names,
)
from fmnist.precise_bn import PreciseBatchNorm, batch_norm_layers
from fmnist.predict import write_submission
from fmnist.pruning import OptunaPruning
from fmnist.runtime import configure_runtime
from fmnist.schedules import optimizer_summary
from fmnist.tracking import record_trial
from fmnist.train import BestWeights, EpochLogger, fit, make_dataset, predict_probabilities
from fmnist.validate import validate

__all__ = ["available_metrics", "objective_names", "run"]

log = logging.getLogger(__name__)

def _verbosity(setting: Any) -> int:
    """``auto``: a progress bar for a single run, one line per epoch inside a multirun (or a
    sweep's job running in its own process)."""
    if setting != "auto":
        return int(setting)
    if not sys.stdout.isatty():  # piped or in a file: no progress bar (one line per epoch)
        return 2
    if os.environ.get("OPTUNA_SWEEPER_WORKER"):  # a sweep's job in its own process
        return 2
    try:
        return 2 if HydraConfig.get().mode == RunMode.MULTIRUN else 1
    except ValueError:
        return 2


#: metrics Keras logs every epoch, which a trial can report for pruning
_EPOCH_METRICS = ("val_accuracy", "val_loss", "accuracy", "loss")


def _pruning_monitor(monitor: str | None, objectives: list[str]) -> str:
    """What a trial reports each epoch: ``optuna.monitor``, or by default the optimised metric
    when Keras logs it every epoch (so the pruner compares in the study's direction), else
    ``val_accuracy``."""
    if monitor is not None:
        if monitor not in _EPOCH_METRICS:
            raise ConfigError(
                f"optuna.monitor must be one of {', '.join(_EPOCH_METRICS)}, got {monitor!r}")
        return monitor
    return objectives[0] if objectives[0] in _EPOCH_METRICS else "val_accuracy"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic.write_text(path, json.dumps(data, indent=2, default=float) + "\n")


def _check_eval_train_size(size: int | None, num_classes: int) -> None:
    """Before training: a stratified subset needs one image of each class."""
    if size is not None and size < num_classes:
        raise ConfigError(f"trainer.eval_train_size must be null or at least the number of "
                          f"classes ({num_classes}), got trainer.eval_train_size={size}")


def _stratified_indices(y: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded, stratified subset of ``size`` labels (all when None or larger)."""
    if size is None or size >= len(y):
        return np.arange(len(y))
    if size < len(np.unique(y)):
        raise ConfigError(f"trainer.eval_train_size must be at least the number of classes "
                          f"({len(np.unique(y))}), got {size}")
    keep, _ = train_test_split(np.arange(len(y)), train_size=size, stratify=y, random_state=seed)
    return np.sort(keep)


def _evaluate(model: keras.Model, splits: Splits, batch_size: int, train_size: int | None = None,
              seed: int = 0, tta: bool = False) -> tuple[dict[str, Any], Any]:
    """Metrics of every split (train on a stratified subset of ``train_size`` images when
    given), by batched inference (``tta``: averaged with the mirrored images); and the test
    split's confusion matrix."""
    metrics: dict[str, Any] = {}
    cm = None
    for name in SPLITS:
        x, y = splits.split(name)
        if not len(y):  # data.train_on=train+val: no validation split
            continue
        if name == "train":
            keep = _stratified_indices(y, train_size, seed)
            x, y = x[keep], y[keep]
        probs = predict_probabilities(model, x, batch_size, tta=tta)
        metrics[name] = classification_metrics(y, probs, splits.num_classes)
        if name == "test":
            cm = confusion_matrix(y, probs.argmax(axis=1), splits.num_classes)
    return metrics, cm


def _last_epoch_metrics(rows: list[dict[str, float]]) -> dict[str, Any]:
    """What a pruned run has without evaluating: the validation metrics of its last epoch
    (the values the pruner saw)."""
    last = rows[-1] if rows else {}
    return {"val": {name: float(last[f"val_{name}"]) for name in ("loss", "accuracy")
                    if f"val_{name}" in last}}


def _save_confusion(out: Path, cm: np.ndarray, class_names: list[str]) -> None:
    header = "true\\predicted," + ",".join(class_names)
    rows = [f"{name}," + ",".join(str(int(v)) for v in row)
            for name, row in zip(class_names, cm, strict=True)]
    atomic.write_text(out / "confusion_matrix.csv", "\n".join([header, *rows]) + "\n")
    plots.save(plots.confusion_matrix_figure(cm, class_names, title="Test confusion matrix (row-normalised)"),
               out / "confusion_matrix.png")


def _save_augmentation_preview(out: Path, augmentation: keras.Layer, splits: Splits) -> None:
    n = min(16, len(splits.y_train))
    originals = splits.x_train[:n]
    augmented = np.asarray(augmentation(originals, training=True))
    plots.save(
        plots.augmentation_grid(originals, augmented, splits.y_train[:n], splits.class_names),
        out / "augment_preview.png",
    )


def _trial_info(cfg: DictConfig) -> dict[str, Any]:
    trial = cfg.get("optuna") or {}
    return {k: trial.get(k) for k in ("study_name", "trial_number", "trial_id") if trial.get(k) is not None}


def run(cfg: DictConfig) -> float | tuple[float, ...]:
    """Train and evaluate one configuration; returns the ``optimized_metric`` value(s).

    Whatever happens, ``metrics.json`` in the run directory records the status
    (``completed``, ``pruned`` or ``failed`` with the error).
    """
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    objectives: list[str] = []
    try:
        objectives = validate(cfg)  # before any data loads
        result = _run(cfg, out, objectives, started)
    except optuna.TrialPruned:
        record_trial(cfg, out, objectives)
        raise
    except BaseException as exc:
        _write_json(out / "metrics.json", {
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            **({"note": str(exc)} if isinstance(exc, TrainingDiverged) else {}),
            "traceback": traceback.format_exc(),
            "wall_seconds": time.perf_counter() - started,
            **_trial_info(cfg),
        })
        record_trial(cfg, out, objectives)
        raise
    record_trial(cfg, out, objectives)
    return result


def _run(cfg: DictConfig, out: Path, objectives: list[str], started: float) -> float | tuple[float, ...]:
    runtime = configure_runtime(cfg.trainer)  # threads first: before TensorFlow starts its pools
    keras.backend.clear_session()
    gc.collect()
    keras.utils.set_random_seed(int(cfg.seed))
    if cfg.trainer.deterministic:
        tf.config.experimental.enable_op_determinism()

    # the augmentation's own constructors check their settings: before the data loads
    augmentation = build_augmentation(
        [instantiate(layer) for layer in (cfg.augment or {}).values()], int(cfg.seed)
    )
    splits: Splits = instantiate(cfg.data)
    save_labels(out / "labels.json", splits.class_values, splits.class_names)
    _check_eval_train_size(cfg.trainer.get("eval_train_size"), splits.num_classes)
    if augmentation is not None:
        log.info("Augmentation: %s", [layer.name for layer in augmentation.layers])
        _save_augmentation_preview(out, augmentation, splits)

    model: keras.Model = instantiate(cfg.model)(
        input_shape=splits.input_shape, num_classes=splits.num_classes
    )
    log.info("Model %s: %s parameters", model.name, f"{model.count_params():,}")
    optimizer = instantiate(cfg.optim)
    log.info("Optimizer: %s", optimizer_summary(type(optimizer).__name__, cfg.optim.get("learning_rate"),
                                                 cfg.schedule))
    model.compile(optimizer=optimizer,
                  loss=training_loss(cfg.trainer.get("label_smoothing"), splits.num_classes),
                  metrics=["accuracy"], jit_compile=bool(cfg.trainer.jit_compile),
                  steps_per_execution=runtime["steps_per_execution"])

    epoch_logger = EpochLogger(out / "history.csv")
    callbacks: list[keras.callbacks.Callback] = [instantiate(cfg.schedule), epoch_logger,
                                                 StopOnNonFinite()]
    best = BestWeights(cfg.trainer.monitor) if cfg.trainer.restore_best_weights else None
    if best is not None:
        callbacks.append(best)
    if cfg.trainer.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=cfg.trainer.monitor, patience=int(cfg.trainer.early_stopping_patience)))
    pruning = None
    if cfg.get("optuna") and cfg.optuna.get("trial_id") is not None:
        pruning = OptunaPruning.for_trial(cfg.optuna,
                                          monitor=_pruning_monitor(cfg.optuna.get("monitor"), objectives),
                                          epochs=int(cfg.trainer.epochs))
        callbacks.append(pruning)
    batch_size = int(cfg.trainer.batch_size)
    bn_batches = cfg.trainer.get("bn_recalibration_batches")
    precise_bn = None
    if bn_batches and batch_norm_layers(model):
        # precise BN before every validation: fresh statistics for the current weights
        precise_bn = PreciseBatchNorm(splits.x_train, batch_size, int(bn_batches), seed=int(cfg.seed))
        callbacks.insert(0, precise_bn)
    if uses_ema(optimizer):  # validation, precise BN and best-weight snapshots use the EMA
        callbacks.insert(0, EMAWeights())
    log.info("Callbacks: %s", [type(c).__name__ for c in callbacks])

    train_ds = make_dataset(splits.x_train, splits.y_train, batch_size, shuffle_seed=int(cfg.seed),
                            augmentation=augmentation,
                            augment_workers=cfg.trainer.get("augment_workers", "auto"))
    # data.train_on=train+val: no validation split, so no validation inside fit
    val_ds = make_dataset(splits.x_val, splits.y_val, batch_size) if len(splits.y_val) else None
    fit_started = time.perf_counter()
    fit(model, train_ds, val_ds, epochs=int(cfg.trainer.epochs), callbacks=callbacks,
        verbose=_verbosity(cfg.trainer.verbose))
    train_seconds = time.perf_counter() - fit_started
    if precise_bn is not None and val_ds is None:  # no validation ran it: once, before evaluating
        precise_bn.recalibrate()
    if epoch_logger.rows:
        plots.save(plots.curves_figure(pd.DataFrame(epoch_logger.rows)), out / "curves.png")

    pruned_at = pruning.pruned_at if pruning is not None else None
    eval_started = time.perf_counter()
    if pruned_at:  # a pruned run keeps the validation metrics it has; no full evaluation
        metrics, cm = _last_epoch_metrics(epoch_logger.rows), None
    else:  # the weights' BatchNorm statistics were recalibrated before their validation
        metrics, cm = _evaluate(model, splits, batch_size=max(batch_size, 512),
                                train_size=cfg.trainer.get("eval_train_size"), seed=int(cfg.seed),
                                tta=bool(cfg.trainer.get("tta", False)))
    metrics.update({
        "status": "pruned" if pruned_at else "completed",
        "epochs": len(epoch_logger.rows),
        "best_epoch": best.best_epoch if best is not None and best.best_epoch else len(epoch_logger.rows),
        "params": model.count_params(),
        "tta": bool(cfg.trainer.get("tta", False)),
        "ema": uses_ema(optimizer),
        "label_smoothing": float(cfg.trainer.get("label_smoothing") or 0.0),
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "train_seconds": train_seconds,
        "eval_seconds": time.perf_counter() - eval_started,
        "bn_recalibration_seconds": precise_bn.seconds if precise_bn is not None else 0.0,
        "bn_recalibration_call_seconds": precise_bn.call_seconds if precise_bn is not None else [],
        "wall_seconds": time.perf_counter() - started,
        **runtime,
        **_trial_info(cfg),
    })
    flat = flatten(metrics)
    values = tuple(flat.get(name, math.nan) for name in objectives)  # pruned: val only
    metrics["objectives"] = dict(zip(objectives, values, strict=True))
    _write_json(out / "metrics.json", metrics)
    if cm is not None:
        _save_confusion(out, cm, splits.class_names)
    with atomic.atomic_path(out / "model.keras") as tmp:  # a full disk: no truncated model
        model.save(tmp)
    if "predict" in splits.extra and not pruned_at:
        x_pred, ids = splits.extra["predict"]
        path = write_submission(out / "submission.csv", ids,
                                predict_probabilities(model, x_pred, 512), splits.class_values)
        log.info("Submission: %s (%d rows)", path, len(ids))
    keras.backend.clear_session()
    if pruned_at:
        log.info("Pruned at epoch %d: no final evaluation; artifacts in %s", pruned_at, out)
        raise optuna.TrialPruned(f"pruned at epoch {pruned_at}")
    log.info(
        "Test accuracy %.4f, F1 (macro) %.4f; %s = %s; artifacts in %s",
        metrics["test"]["accuracy"], metrics["test"]["f1_macro"], ", ".join(objectives),
        ", ".join(f"{v:.4f}" for v in values), out,
    )
    if any(not math.isfinite(v) for v in values):
        log.warning("optimized_metric is not finite: %s", dict(zip(objectives, values, strict=True)))
    return values[0] if len(values) == 1 else values

