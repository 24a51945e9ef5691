"""The training job: ``run(cfg)`` reads top to bottom — seed, data, augmentation, model,
compile, fit, evaluate, write artifacts, return the optimised metric."""

from __future__ import annotations

import gc
import logging
import math
import os
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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

from fmnist import plots
from fmnist.artifacts import save_augmentation_preview, save_confusion
from fmnist.augment import build_augmentation
from fmnist.callbacks import Callbacks, build_callbacks
from fmnist.data import Splits, save_labels, stratified_indices
from fmnist.ema import uses_ema
from fmnist.errors import ConfigError, TrainingDiverged
from fmnist.losses import training_loss
from fmnist.metrics import (
    SPLITS,
    available_metrics,
    classification_metrics,
    confusion_matrix,
    objective_names,
)
from fmnist.predict import write_submission
from fmnist.pruning import OptunaPruning
from fmnist.record import METRICS_FILE, RunRecord
from fmnist.runtime import configure_runtime
from fmnist.schedules import optimizer_summary
from fmnist.tracking import record_trial
from fmnist.train import fit, make_dataset, predict_probabilities
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


def _check_eval_train_size(size: int | None, num_classes: int) -> None:
    """Before training: a stratified subset needs one image of each class."""
    if size is not None and size < num_classes:
        raise ConfigError(f"trainer.eval_train_size must be null or at least the number of "
                          f"classes ({num_classes}), got trainer.eval_train_size={size}")


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
            keep = np.sort(stratified_indices(y, train_size, seed, "trainer.eval_train_size"))
            x, y = x[keep], y[keep]
        probs = predict_probabilities(model, x, batch_size, tta=tta)
        metrics[name] = classification_metrics(y, probs, splits.num_classes)
        if name == "test":
            cm = confusion_matrix(y, probs.argmax(axis=1), splits.num_classes)
    return metrics, cm


@dataclass
class _Job:
    """What the steps of one run share: its config, its directory, its clock and the names of
    the metrics it optimises (known once the config is validated)."""

    cfg: DictConfig
    out: Path
    started: float = field(default_factory=time.perf_counter)
    objectives: list[str] = field(default_factory=list)

    @property
    def seed(self) -> int:
        return int(self.cfg.seed)

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def trial_info(self) -> dict[str, Any]:
        """The Optuna trial a sweep's job reports to (nothing outside a sweep)."""
        trial = self.cfg.get("optuna") or {}
        return {k: trial.get(k) for k in ("study_name", "trial_number", "trial_id")
                if trial.get(k) is not None}

    @contextmanager
    def recorded(self) -> Iterator[None]:
        """The one failure wrapper: whatever the run does inside, ``metrics.json`` records it (a
        failure: the error and its traceback; a pruned or completed run writes its own), and
        its trial is told exactly once, after the record is on disk."""
        try:
            yield
        except optuna.TrialPruned:
            raise
        except BaseException as exc:
            RunRecord(status="failed", error=f"{type(exc).__name__}: {exc}",
                      note=str(exc) if isinstance(exc, TrainingDiverged) else None,
                      traceback=traceback.format_exc(), wall_seconds=self.seconds(),
                      **self.trial_info()).write(self.out / METRICS_FILE)
            raise
        finally:
            record_trial(self.cfg, self.out, self.objectives)


def _callbacks(job: _Job, model: keras.Model, optimizer: keras.optimizers.Optimizer,
               splits: Splits) -> Callbacks:
    callbacks = build_callbacks(job.cfg.trainer, job.cfg.schedule, model, optimizer, splits,
                                history=job.out / "history.csv", seed=job.seed, pruning=_pruning(job))
    log.info("Callbacks: %s", [type(c).__name__ for c in callbacks.ordered()])
    return callbacks


def _pruning(job: _Job) -> OptunaPruning | None:
    """Inside a sweep: report to the trial every epoch and stop when its pruner says so."""
    trial = job.cfg.get("optuna")
    if not trial or trial.get("trial_id") is None:
        return None
    return OptunaPruning.for_trial(trial, monitor=_pruning_monitor(trial.get("monitor"), job.objectives),
                                   epochs=int(job.cfg.trainer.epochs))


def _start(job: _Job) -> dict[str, Any]:
    """Threads, devices and precision (before TensorFlow starts its pools), a fresh session,
    the seed and determinism; returns what the runtime uses, for the record."""
    runtime = configure_runtime(job.cfg.trainer)
    keras.backend.clear_session()
    gc.collect()
    keras.utils.set_random_seed(job.seed)
    if job.cfg.trainer.deterministic:
        tf.config.experimental.enable_op_determinism()
    return runtime


def _load_data(job: _Job, augmentation: keras.Layer | None) -> Splits:
    splits: Splits = instantiate(job.cfg.data)
    save_labels(job.out / "labels.json", splits.class_values, splits.class_names)
    _check_eval_train_size(job.cfg.trainer.get("eval_train_size"), splits.num_classes)
    if augmentation is not None:
        log.info("Augmentation: %s", [layer.name for layer in augmentation.layers])
        save_augmentation_preview(job.out / "augment_preview.png", augmentation, splits.x_train,
                                  splits.y_train, splits.class_names)
    return splits


def _compiled_model(job: _Job, splits: Splits, steps_per_execution: int
                    ) -> tuple[keras.Model, keras.optimizers.Optimizer]:
    cfg = job.cfg
    model: keras.Model = instantiate(cfg.model)(input_shape=splits.input_shape,
                                                num_classes=splits.num_classes)
    log.info("Model %s: %s parameters", model.name, f"{model.count_params():,}")
    optimizer = instantiate(cfg.optim)
    log.info("Optimizer: %s", optimizer_summary(type(optimizer).__name__,
                                                 cfg.optim.get("learning_rate"), cfg.schedule))
    model.compile(optimizer=optimizer,
                  loss=training_loss(cfg.trainer.get("label_smoothing"), splits.num_classes),
                  metrics=["accuracy"], jit_compile=bool(cfg.trainer.jit_compile),
                  steps_per_execution=steps_per_execution)
    return model, optimizer


def _fit(job: _Job, model: keras.Model, splits: Splits, augmentation: keras.Layer | None,
         callbacks: Callbacks) -> float:
    """Train; returns the seconds ``fit`` took."""
    trainer = job.cfg.trainer
    batch_size = int(trainer.batch_size)
    train_ds = make_dataset(splits.x_train, splits.y_train, batch_size, shuffle_seed=job.seed,
                            augmentation=augmentation,
                            augment_workers=trainer.get("augment_workers", "auto"))
    # data.train_on=train+val: no validation split, so no validation inside fit
    val_ds = make_dataset(splits.x_val, splits.y_val, batch_size) if len(splits.y_val) else None
    started = time.perf_counter()
    fit(model, train_ds, val_ds, epochs=int(trainer.epochs), callbacks=callbacks.ordered(),
        verbose=_verbosity(trainer.verbose))
    seconds = time.perf_counter() - started
    if callbacks.precise_bn is not None and val_ds is None:  # no validation ran it: once now
        callbacks.precise_bn.recalibrate()
    if callbacks.history.rows:
        plots.save(plots.curves_figure(pd.DataFrame(callbacks.history.rows)), job.out / "curves.png")
    return seconds


def _final_metrics(job: _Job, model: keras.Model, splits: Splits, callbacks: Callbacks
                   ) -> tuple[dict[str, Any], np.ndarray | None]:
    """Every split's metrics and the test confusion matrix; a pruned run keeps the validation
    metrics of its last epoch (the values the pruner saw) and is not evaluated."""
    if callbacks.pruned_at:
        last = callbacks.history.rows[-1] if callbacks.history.rows else {}
        return {"val": {name: float(last[f"val_{name}"]) for name in ("loss", "accuracy")
                        if f"val_{name}" in last}}, None
    trainer = job.cfg.trainer  # the BatchNorm statistics were recalibrated before validation
    return _evaluate(model, splits, batch_size=max(int(trainer.batch_size), 512),
                     train_size=trainer.get("eval_train_size"), seed=job.seed,
                     tta=bool(trainer.get("tta", False)))


def _run_record(job: _Job, model: keras.Model, optimizer: keras.optimizers.Optimizer,
                callbacks: Callbacks, runtime: dict[str, Any], seconds: tuple[float, float],
                metrics: dict[str, Any]) -> RunRecord:
    """The run's record: its metrics, what it trained, how long each part took, where."""
    trainer, rows, best, bn = job.cfg.trainer, callbacks.history.rows, callbacks.best, callbacks.precise_bn
    record = RunRecord(
        **metrics, status="pruned" if callbacks.pruned_at else "completed",
        epochs=len(rows), best_epoch=best.best_epoch if best is not None and best.best_epoch else len(rows),
        params=model.count_params(), tta=bool(trainer.get("tta", False)), ema=uses_ema(optimizer),
        label_smoothing=float(trainer.get("label_smoothing") or 0.0),
        trainable_params=int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        train_seconds=seconds[0], eval_seconds=seconds[1],
        bn_recalibration_seconds=bn.seconds if bn is not None else 0.0,
        bn_recalibration_call_seconds=bn.call_seconds if bn is not None else [],
        wall_seconds=job.seconds(), **runtime, **job.trial_info())
    flat = record.flat()
    record.objectives = {name: flat.get(name, math.nan) for name in job.objectives}  # pruned: val only
    return record


def _save_artifacts(job: _Job, model: keras.Model, splits: Splits, cm: np.ndarray | None,
                    pruned: bool) -> None:
    """The confusion matrix, the model and (a Kaggle prediction file given) the submission."""
    if cm is not None:
        save_confusion(job.out / "confusion_matrix", cm, splits.class_names,
                       title="Test confusion matrix (row-normalised)")
    with atomic.atomic_path(job.out / "model.keras") as tmp:  # a full disk: no truncated model
        model.save(tmp)
    if "predict" in splits.extra and not pruned:
        x_pred, ids = splits.extra["predict"]
        path = write_submission(job.out / "submission.csv", ids,
                                predict_probabilities(model, x_pred, 512), splits.class_values)
        log.info("Submission: %s (%d rows)", path, len(ids))


def _result(job: _Job, record: RunRecord, pruned_at: int | None) -> float | tuple[float, ...]:
    """The optimised value(s); a pruned run raises :class:`optuna.TrialPruned` instead."""
    if pruned_at:
        log.info("Pruned at epoch %d: no final evaluation; artifacts in %s", pruned_at, job.out)
        raise optuna.TrialPruned(f"pruned at epoch {pruned_at}")
    objectives = record.objectives or {}
    log.info("Test accuracy %.4f, F1 (macro) %.4f; %s = %s; artifacts in %s",
             record.split("test")["accuracy"], record.split("test")["f1_macro"],
             ", ".join(objectives), ", ".join(f"{v:.4f}" for v in objectives.values()), job.out)
    if any(not math.isfinite(v) for v in objectives.values()):
        log.warning("optimized_metric is not finite: %s", objectives)
    values = tuple(objectives.values())
    return values[0] if len(values) == 1 else values


def run(cfg: DictConfig) -> float | tuple[float, ...]:
    """Train and evaluate one configuration; returns the ``optimized_metric`` value(s).

    Whatever happens, ``metrics.json`` in the run directory records the status
    (``completed``, ``pruned`` or ``failed`` with the error).
    """
    job = _Job(cfg, Path(cfg.paths.output_dir))
    job.out.mkdir(parents=True, exist_ok=True)
    with job.recorded():
        job.objectives = validate(cfg)  # before any data loads
        return _run(job)


def _run(job: _Job) -> float | tuple[float, ...]:
    runtime = _start(job)
    # the augmentation's own constructors check their settings: before the data loads
    augmentation = build_augmentation(
        [instantiate(layer) for layer in (job.cfg.augment or {}).values()], job.seed)
    splits = _load_data(job, augmentation)
    model, optimizer = _compiled_model(job, splits, runtime["steps_per_execution"])
    callbacks = _callbacks(job, model, optimizer, splits)
    train_seconds = _fit(job, model, splits, augmentation, callbacks)
    eval_started = time.perf_counter()
    metrics, cm = _final_metrics(job, model, splits, callbacks)
    record = _run_record(job, model, optimizer, callbacks, runtime,
                         (train_seconds, time.perf_counter() - eval_started), metrics)
    record.write(job.out / METRICS_FILE)
    _save_artifacts(job, model, splits, cm, pruned=bool(callbacks.pruned_at))
    keras.backend.clear_session()
    return _result(job, record, callbacks.pruned_at)
