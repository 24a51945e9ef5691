"""Devices: mixed precision and memory growth (which GPUs each parallel trial sees is the
sweeper's: sweeper/tests/test_devices.py). The GPU tests skip, with the reason, where
TensorFlow sees no GPU."""

from __future__ import annotations

import re
from collections.abc import Iterator

import keras
import numpy as np
import pytest
import tensorflow as tf

from fmnist.devices import configure_devices, precision_policy
from fmnist.errors import ConfigError
from fmnist.models import brief, deeper

SMI = "GPU 0: NVIDIA H100 (UUID: GPU-a)\nGPU 1: NVIDIA H100 (UUID: GPU-b)\n"
GPUS = tf.config.list_physical_devices("GPU")
needs_gpu = pytest.mark.skipif(not GPUS, reason="TensorFlow sees no GPU on this machine")


@pytest.mark.parametrize(
    ("setting", "policy"),
    [(False, "float32"), (None, "float32"), (True, "mixed_float16"),
     ("mixed_bfloat16", "mixed_bfloat16"), ("float32", "float32")],
)
def test_precision_policy(setting: bool | str | None, policy: str) -> None:
    assert precision_policy(setting) == policy


def test_an_unknown_precision_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=re.escape("got trainer.mixed_precision='half'")):
        precision_policy("half")


@pytest.fixture
def restore_policy() -> Iterator[None]:
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("build", [brief, deeper])
def test_mixed_precision_computes_in_float16_with_a_float32_softmax(build, restore_policy) -> None:
    configure_devices(mixed_precision=True)
    model = build(input_shape=(28, 28, 1), num_classes=10)
    assert model.layers[0].compute_dtype == "float16"
    assert model.layers[-1].compute_dtype == "float32"
    out = model(np.zeros((2, 28, 28, 1), "float32"))
    assert out.dtype == "float32"
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, rtol=1e-5)
    configure_devices(mixed_precision=False)
    assert build(input_shape=(28, 28, 1), num_classes=10).layers[0].compute_dtype == "float32"


@needs_gpu
def test_gpus_grow_their_memory() -> None:
    assert configure_devices() == [g.name for g in GPUS]
    assert all(tf.config.experimental.get_memory_growth(g) for g in GPUS)


@needs_gpu
def test_mixed_precision_trains_on_a_gpu(restore_policy) -> None:
    configure_devices(mixed_precision=True)
    model = brief(input_shape=(28, 28, 1), num_classes=10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.random((256, 28, 28, 1), "float32"), rng.integers(0, 10, 256)
    history = model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    assert "GPU" in model.layers[0].kernel.value.device
