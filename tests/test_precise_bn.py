"""Precise BatchNorm: after a few dozen training steps, inference-mode accuracy on training
batches is close to training-mode accuracy once the statistics are re-estimated."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fmnist.errors import ConfigError
from fmnist.models import deeper, resnet152
from fmnist.precise_bn import PreciseBatchNorm, batch_norm_layers, recalibrate_batch_norm


def _accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray, training: bool) -> float:
    probs = np.concatenate([np.asarray(model(x[i:i + 256], training=training))
                            for i in range(0, len(x), 256)])
    return float((probs.argmax(axis=1) == y).mean())


def _briefly_trained(fashion, steps: int = 40) -> tuple[keras.Model, np.ndarray, np.ndarray]:
    keras.utils.set_random_seed(0)
    x, y = fashion.x_train[: steps * 64], fashion.y_train[: steps * 64]
    model = deeper((28, 28, 1), 10, dropout_conv2=0.0, dropout_conv3=0.0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    return model, x, y


def test_recalibrated_inference_accuracy_matches_training_mode(fashion) -> None:
    model, x, y = _briefly_trained(fashion)
    train_mode = _accuracy(model, x[:2048], y[:2048], training=True)
    stale = _accuracy(model, x[:2048], y[:2048], training=False)
    used = recalibrate_batch_norm(model, x, batch_size=64, num_batches=20)
    precise = _accuracy(model, x[:2048], y[:2048], training=False)
    print(f"training mode {train_mode:.3f}, stale {stale:.3f}, recalibrated {precise:.3f}")
    assert used == 20
    assert train_mode > 0.6
    assert stale < train_mode - 0.2          # the lagging moving averages (the bug)
    assert abs(precise - train_mode) < 0.05  # fixed, without touching the weights


def test_statistics_are_the_average_of_batch_moments() -> None:
    inputs = keras.Input((3,))
    bn = keras.layers.BatchNormalization()
    model = keras.Model(inputs, bn(inputs))
    x = np.random.default_rng(1).normal(5.0, 2.0, size=(400, 3)).astype("float32")
    recalibrate_batch_norm(model, x, batch_size=100, num_batches=4)
    assert np.allclose(bn.moving_mean.numpy(), x.mean(axis=0), atol=1e-4)
    # the mean of the four batch variances: close to the variance of all of x
    assert np.allclose(bn.moving_variance.numpy(), x.var(axis=0), rtol=0.05)
    assert not np.allclose(bn.moving_variance.numpy(), 1.0, rtol=0.5)
    assert bn.momentum == pytest.approx(0.99)  # restored


def test_frozen_batch_norm_layers_are_left_alone() -> None:
    model = resnet152((28, 28, 1), 5, weights=None)
    assert batch_norm_layers(model) == []
    assert len(batch_norm_layers(deeper((28, 28, 1), 5))) == 2


def test_the_callback_runs_before_each_validation(fashion) -> None:
    keras.utils.set_random_seed(0)
    x, y = fashion.x_train[:640], fashion.y_train[:640]
    model = deeper((28, 28, 1), 10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    seen: list[float] = []
    precise = PreciseBatchNorm(x, batch_size=64, num_batches=5)

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):  # the statistics validation used
            seen.append(float(batch_norm_layers(self.model)[0].moving_mean.numpy()[0]))

    model.fit(x, y, batch_size=64, epochs=2, validation_data=(x[:128], y[:128]),
              callbacks=[precise, Probe()], verbose=0)
    assert precise.calls == 2 and precise.seconds > 0
    model.evaluate(x[:128], y[:128], verbose=0, callbacks=[precise])  # outside fit: nothing
    assert precise.calls == 2 and all(v != 0.0 for v in seen)
    with pytest.raises(ConfigError, match="bn_recalibration_batches"):
        PreciseBatchNorm(x, 64, 0)
