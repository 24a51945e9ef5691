"""Keras Tuner 1.4.8 ``Hyperband`` over fmnist's model builder and the preset's ranges.

The hypermodel declares one Keras Tuner hyperparameter per searched parameter of the preset
(``choice`` -> ``hp.Choice``, ``interval`` -> ``hp.Float``/``hp.Int``, log ranges with
``sampling="log"``), composes the run's config with the values drawn, and builds, compiles and
fits exactly what ``fmnist.app`` would (the model from ``cfg.model``, the optimizer from
``cfg.optim``, the loss with label smoothing, the augmentation, the schedule and the EMA
callback), without fmnist's pruning; with ``precise_bn`` (the ``keras_tuner+bn`` method) each
trial also recalibrates BatchNorm before every validation as fmnist's jobs do (the preset's
``trainer.bn_recalibration_batches``), so both searches see the same training and only the
search differs. Hyperband resumes a promoted trial from its checkpoint, as Keras Tuner does.
The search stops once it has spent the budget in epochs (a callback counts them); the final
pick is Keras Tuner's best model, evaluated on the test split (flip TTA when the config asks).

Keras Tuner is imported from ``path`` (``pip install --target PATH keras-tuner==1.4.8
kt-legacy``), outside the shared environment.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweep_quality.live import LiveTrial
from sweep_quality.preset import CONF, Preset

__all__ = ["hyperband"]


class _BudgetSpent(Exception):
    """The budget in epochs is spent: the search stops."""


def _declare(preset: Preset, hp: Any) -> dict[str, Any]:
    """One Keras Tuner hyperparameter per searched parameter of the preset; their values."""
    values: dict[str, Any] = {}
    for p in preset.space.params:
        d = p.distribution
        if isinstance(d, CategoricalDistribution):
            values[p.name] = hp.Choice(p.name, list(d.choices))
        elif isinstance(d, IntDistribution):
            values[p.name] = hp.Int(p.name, d.low, d.high, sampling="log" if d.log else "linear")
        else:
            assert isinstance(d, FloatDistribution)
            values[p.name] = hp.Float(p.name, d.low, d.high, sampling="log" if d.log else "linear")
    return values


def _compose(preset: Preset, values: dict[str, Any]) -> Any:
    """The run's config: the preset's search with ``values`` set."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", [f"hparams_search={preset.name}", *preset.overrides, *preset.space.fixed,
                                 *(f"{preset.space.key(n)}={v}" for n, v in values.items())])
    GlobalHydra.instance().clear()
    return cfg


def _extras(cfg: Any, model: Any, x_train: np.ndarray, precise_bn: bool) -> list[Any]:
    """The EMA swap when the optimizer averages, then (``precise_bn``) precise BN: in fmnist's order."""
    from fmnist.ema import EMAWeights, uses_ema
    from fmnist.precise_bn import PreciseBatchNorm, batch_norm_layers

    out: list[Any] = [EMAWeights()] if uses_ema(model.optimizer) else []
    batches = cfg.trainer.get("bn_recalibration_batches")
    if precise_bn and batches and batch_norm_layers(model):
        out.append(PreciseBatchNorm(x_train, int(cfg.trainer.batch_size), int(batches), seed=int(cfg.seed)))
    return out


def hyperband(preset: Preset, seed: int, budget: int, work: Path, path: str, *,
              precise_bn: bool = False) -> list[LiveTrial]:
    """Runs ``Hyperband(max_epochs=preset.epochs, factor=3)`` until ``budget`` epochs are spent;
    one :class:`LiveTrial` per Keras Tuner trial (``precise_bn``: with fmnist's precise BN)."""
    sys.path.insert(0, path)
    import keras
    import keras_tuner as kt
    from hydra.utils import instantiate

    from fmnist.augment import build_augmentation
    from fmnist.losses import training_loss
    from fmnist.train import make_dataset, predict_probabilities

    trials: list[LiveTrial] = []
    spent = [0]
    name = "keras_tuner+bn" if precise_bn else "keras_tuner"

    def cfg_of(hp: Any) -> Any:
        return _compose(preset, _declare(preset, hp))

    splits: Any = None

    class Counter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            spent[0] += 1

    class FmnistHyperModel(kt.HyperModel):
        def build(self, hp: Any) -> keras.Model:
            nonlocal splits
            cfg = cfg_of(hp)
            if splits is None:
                splits = instantiate(cfg.data)
            model = instantiate(cfg.model)(input_shape=splits.input_shape, num_classes=splits.num_classes)
            model.compile(optimizer=instantiate(cfg.optim),
                          loss=training_loss(cfg.trainer.get("label_smoothing"), splits.num_classes),
                          metrics=["accuracy"])
            return model

        def fit(self, hp: Any, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
            if spent[0] >= budget:
                raise _BudgetSpent
            cfg = cfg_of(hp)
            augmentation = build_augmentation([instantiate(a) for a in (cfg.augment or {}).values()],
                                              int(cfg.seed))
            batch = int(cfg.trainer.batch_size)
            train = make_dataset(splits.x_train, splits.y_train, batch, shuffle_seed=int(cfg.seed),
                                 augmentation=augmentation)
            val = make_dataset(splits.x_val, splits.y_val, batch)
            callbacks = [*_extras(cfg, model, splits.x_train, precise_bn), *kwargs.pop("callbacks", []),
                         instantiate(cfg.schedule), Counter()]
            before, started = spent[0], time.perf_counter()
            history = model.fit(train, validation_data=val, callbacks=callbacks, verbose=0, **kwargs)
            value = float(max(history.history["val_accuracy"]))
            trials.append(LiveTrial(spent[0] - before, spent[0], value, None,
                                    time.perf_counter() - started, dict(hp.values)))
            print(f"  {name:12} trial {len(trials) - 1:>3}: {spent[0] - before} epochs, value "
                  f"{value:.4f}, spent {spent[0]}", flush=True)
            return history

    tuner = kt.Hyperband(FmnistHyperModel(), objective=kt.Objective("val_accuracy", "max"),
                         max_epochs=preset.epochs, factor=3, hyperband_iterations=100, seed=seed,
                         directory=str(work), project_name=f"{name}-{seed}", overwrite=True,
                         max_consecutive_failed_trials=1)
    try:
        tuner.search()
    except Exception as exc:  # Keras Tuner wraps the stop in its own error after a failed trial
        if not isinstance(exc, _BudgetSpent) and "_BudgetSpent" not in repr(exc) and spent[0] < budget:
            raise
    best = tuner.get_best_models(1)[0]
    cfg = cfg_of(tuner.get_best_hyperparameters(1)[0])
    probs = predict_probabilities(best, splits.x_test, 512, tta=bool(cfg.trainer.get("tta", False)))
    test = float(np.mean(probs.argmax(axis=1) == splits.y_test))
    pick = max(range(len(trials)), key=lambda i: trials[i].value or 0.0)
    trials[pick].test = test  # the final pick's test accuracy, on its best model
    return trials
