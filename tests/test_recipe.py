"""The modern training options of issue 17, each changing what it should: label smoothing,
decoupled weight decay, EMA weights, random erasing, the warmup + cosine schedule and flip
test-time augmentation; with every option off, the same model, optimizer and loss as before."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from hydra.utils import instantiate

from fmnist.app import run
from fmnist.ema import EMAWeights
from fmnist.erasing import RandomErasing
from fmnist.errors import ConfigError
from fmnist.losses import SmoothedSparseCrossentropy, training_loss
from fmnist.schedules import WarmupCosine, warmup_cosine_learning_rate
from fmnist.train import predict_probabilities


def test_label_smoothing_changes_the_loss_to_the_smoothed_cross_entropy() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")
    labels = np.array([0, 2])
    plain = keras.losses.SparseCategoricalCrossentropy()(labels, probs)
    smoothed = SmoothedSparseCrossentropy(0.3, 3)(labels, probs)
    targets = np.full((2, 3), 0.1)
    targets[[0, 1], labels] = 0.8  # 1 - 0.3 + 0.3 / 3
    expected = -(targets * np.log(probs)).sum(axis=1).mean()
    assert float(smoothed) == pytest.approx(expected, rel=1e-5)
    assert float(plain) == pytest.approx(-np.log([0.7, 0.8]).mean(), rel=1e-5)
    assert float(smoothed) > float(plain)


@pytest.mark.parametrize(("value", "expected"), [(None, "sparse_categorical_crossentropy"),
                                                  (0.0, "sparse_categorical_crossentropy")])
def test_no_smoothing_keeps_keras_own_loss(value, expected) -> None:
    assert training_loss(value, 10) == expected


@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_label_smoothing_range_is_checked(value) -> None:
    with pytest.raises(ConfigError, match=r"trainer.label_smoothing must be in \[0, 1\)"):
        training_loss(value, 10)


@pytest.mark.parametrize(("step", "expected"), [
    (0, 0.001), (5, 0.0055), (10, 0.01),                  # warmup from 10 % to the peak
    (55, 0.005), (100, 0.0), (150, 0.0),                  # cosine to 0, then held
])
def test_warmup_cosine_values(step: int, expected: float) -> None:
    assert warmup_cosine_learning_rate(step, 100, 0.01, 10, start_fraction=0.1) == pytest.approx(
        expected, abs=1e-12)


def test_warmup_cosine_final_fraction_and_no_warmup() -> None:
    assert warmup_cosine_learning_rate(0, 10, 0.02, 0) == pytest.approx(0.02)
    assert warmup_cosine_learning_rate(10, 10, 0.02, 0, final_fraction=0.1) == pytest.approx(0.002)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_lr": 0}, "schedule.max_lr must be > 0"),
    ({"max_lr": 0.1, "warmup_epochs": -1}, "schedule.warmup_epochs must be >= 0"),
    ({"max_lr": 0.1, "final_fraction": 1.0}, "schedule.final_fraction must be in [0, 1)"),
    ({"max_lr": 0.1, "start_fraction": 2.0}, "schedule.start_fraction must be in [0, 1]"),
])
def test_warmup_cosine_settings_are_checked(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        WarmupCosine(**kwargs)


def test_random_erasing_covers_the_configured_area_and_only_when_training() -> None:
    images = np.zeros((2000, 28, 28, 1), "float32")
    out = np.asarray(RandomErasing(probability=1.0, area=[0.05, 0.2], fill=1.0, seed=3)(
        images, training=True))
    covered = out.mean(axis=(1, 2, 3))
    # whole-pixel rectangles: the drawn area (5-20 % of 784 pixels), up to rounding of each side
    assert covered.min() >= 0.03 and covered.max() <= 0.26
    assert 0.10 < covered.mean() < 0.14
    half = np.asarray(RandomErasing(probability=0.5, fill=1.0, seed=3)(images, training=True))
    assert 0.45 < (half.max(axis=(1, 2, 3)) > 0).mean() < 0.55
    assert np.array_equal(RandomErasing(probability=1.0, seed=3)(images[:4], training=False),
                          images[:4])
    again = np.asarray(RandomErasing(probability=1.0, area=[0.05, 0.2], fill=1.0, seed=3)(
        images, training=True))
    assert np.array_equal(out, again)  # same seed, same rectangles


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"probability": 1.5}, "augment.erasing.probability must be in [0, 1]"),
    ({"area": [0.5, 0.1]}, "augment.erasing.area must be [low, high]"),
    ({"aspect": [0, 2]}, "augment.erasing.aspect must be [low, high]"),
    ({"fill": "zeros"}, "augment.erasing.fill must be 'noise' or a number"),
])
def test_random_erasing_settings_are_checked(kwargs, message) -> None:
    with pytest.raises(ConfigError) as info:
        RandomErasing(**kwargs)
    assert message in str(info.value)


def test_tta_averages_the_mirrored_predictions() -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    x = np.random.default_rng(0).random((50, 28, 28, 1)).astype("float32")
    plain = predict_probabilities(model, x, 16)
    mirrored = predict_probabilities(model, x[:, :, ::-1], 16)
    assert not np.allclose(plain, mirrored)
    np.testing.assert_allclose(predict_probabilities(model, x, 16, tta=True),
                               (plain + mirrored) / 2, rtol=1e-6)


class _Snapshot(keras.callbacks.Callback):
    """Records the weights the epoch ends with (where BestWeights takes its snapshot)."""

    def __init__(self) -> None:
        super().__init__()
        self.at_epoch_end: list[list[np.ndarray]] = []
        self.at_test_end: list[list[np.ndarray]] = []

    def on_test_end(self, logs=None) -> None:
        self.at_test_end.append([np.array(v.numpy()) for v in self.model.trainable_variables])

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.at_epoch_end.append([np.array(v.numpy()) for v in self.model.trainable_variables])


def test_ema_weights_are_the_ones_validated_snapshotted_and_kept() -> None:
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    optimizer = keras.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.9)
    model.compile(optimizer, "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 4)).astype("float32"), rng.integers(0, 3, 64)
    ema, snap = EMAWeights(), _Snapshot()
    model.fit(x, y, batch_size=8, epochs=3, validation_data=(x, y), callbacks=[ema, snap],
              verbose=0, shuffle=False)
    averages = [np.array(a.numpy()) for a in optimizer._model_variables_moving_average]
    assert ema.swaps == 3
    # validation and the epoch-end snapshot saw the average, not the raw weights
    for got, want in zip(snap.at_epoch_end[-1], averages, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert not all(np.allclose(a, b) for a, b in zip(snap.at_epoch_end[0], snap.at_epoch_end[1],
                                                     strict=True))
    for got, want in zip(model.trainable_variables, averages, strict=True):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_ema_training_resumes_from_the_raw_weights() -> None:
    """The next epoch trains the raw weights, not the average swapped in for validation."""
    keras.utils.set_random_seed(2)
    def train(callbacks):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        opt = keras.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.5)
        model.compile(opt, "sparse_categorical_crossentropy")
        model.set_weights([np.full((4, 3), 0.1, "float32"), np.zeros(3, "float32")])
        rng = np.random.default_rng(0)
        x, y = rng.random((32, 4)).astype("float32"), rng.integers(0, 3, 32)
        model.fit(x, y, batch_size=8, epochs=2, validation_data=(x, y), callbacks=callbacks,
                  verbose=0, shuffle=False)
        return [np.array(a.numpy()) for a in opt._model_variables_moving_average]
    with_swap, without = train([EMAWeights()]), train([])
    for a, b in zip(with_swap, without, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)


OPTIMIZERS = {
    "adam": keras.optimizers.Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999),
    "adamax": keras.optimizers.Adamax(),
    "sgd": keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
    "rmsprop": keras.optimizers.RMSprop(),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_options_off_compose_to_the_same_optimizer_and_loss_as_before(compose_cfg, name) -> None:
    cfg = compose_cfg(f"optim={name}")
    built = instantiate(cfg.optim).get_config()
    reference = OPTIMIZERS[name].get_config()
    for key in ("weight_decay", "use_ema", "ema_momentum", "beta_1", "beta_2", "momentum",
                "nesterov", "rho", "epsilon"):
        assert built.get(key) == reference.get(key), key
    assert math.isclose(built["learning_rate"], cfg.optim.learning_rate, rel_tol=1e-6)
    assert cfg.trainer.label_smoothing == 0.0 and cfg.trainer.tta is False
    assert training_loss(cfg.trainer.label_smoothing, 10) == "sparse_categorical_crossentropy"


def test_a_run_records_the_recipe_and_uses_every_option(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg("+experiment=convnet", "trainer.epochs=2", "model.width=8")
    log_lines = []
    run(cfg)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    log_lines.append(metrics)
    assert metrics["status"] == "completed"
    assert metrics["tta"] is True and metrics["ema"] is True
    assert metrics["label_smoothing"] == pytest.approx(0.1)
    assert metrics["params"] < 1_000_000
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert len(rows) == 3
