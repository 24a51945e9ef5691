"""Devices: which GPUs each parallel trial sees (pure functions), mixed precision and memory
growth. The GPU tests skip, with the reason, where TensorFlow sees no GPU."""

from __future__ import annotations

import re
from collections.abc import Iterator

import keras
import numpy as np
import pytest
import tensorflow as tf
from hydra_plugins.fmnist_optuna_sweeper.devices import (
    DeviceError,
    assign_devices,
    local_slots,
    parse_visible,
)

from fmnist.devices import configure_devices, precision_policy
from fmnist.errors import ConfigError
from fmnist.models import brief, deeper

SMI = "GPU 0: NVIDIA H100 (UUID: GPU-a)\nGPU 1: NVIDIA H100 (UUID: GPU-b)\n"
GPUS = tf.config.list_physical_devices("GPU")
needs_gpu = pytest.mark.skipif(not GPUS, reason="TensorFlow sees no GPU on this machine")


@pytest.mark.parametrize(
    ("env", "smi", "visible"),
    [
        ({}, SMI, ["0", "1"]),
        ({}, None, []),
        ({}, "No devices were found", []),
        ({"CUDA_VISIBLE_DEVICES": "2,3"}, SMI, ["2", "3"]),
        ({"CUDA_VISIBLE_DEVICES": ""}, SMI, []),
        ({"CUDA_VISIBLE_DEVICES": "1,-1,2"}, SMI, ["1"]),
        ({"CUDA_VISIBLE_DEVICES": "GPU-a, GPU-b"}, None, ["GPU-a", "GPU-b"]),
    ],
)
def test_visible_gpus(env: dict[str, str], smi: str | None, visible: list[str]) -> None:
    assert parse_visible(env, smi) == visible


@pytest.mark.parametrize(
    ("devices", "per_trial", "slots", "assigned"),
    [
        (["0", "1", "2", "3"], 1, 4, [["0"], ["1"], ["2"], ["3"]]),
        (["0", "1"], 1, 4, [["0"], ["1"], ["0"], ["1"]]),  # two trials share each GPU
        (["0", "1", "2", "3"], 2, 2, [["0", "1"], ["2", "3"]]),
        ([4, 6], 1, 2, [["4"], ["6"]]),
        (["0", "1", "2"], 2, 3, [["0", "1"], ["2", "0"], ["1", "2"]]),
        ([], 1, 2, [[], []]),  # no GPU: nothing set
        (["0", "1"], 0, 2, [[], []]),
    ],
)
def test_devices_are_dealt_round_robin(devices: list, per_trial: int, slots: int,
                                       assigned: list[list[str]]) -> None:
    assert assign_devices(devices, per_trial, slots) == assigned


@pytest.mark.parametrize(
    ("devices", "per_trial", "message"),
    [
        (["0"], 2, "gpus_per_trial=2 is more than the 1 device(s) available: ['0']"),
        (["0", "1"], -1, "gpus_per_trial must be >= 0, got gpus_per_trial=-1"),
        (["0", "0"], 1, "devices must not repeat, got devices=['0', '0']"),
    ],
)
def test_device_settings_that_cannot_be_met(devices: list, per_trial: int, message: str) -> None:
    # by name: Hydra's plugin scan may have imported the module again (another class object)
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        assign_devices(devices, per_trial, 2)
    assert type(raised.value).__name__ == DeviceError.__name__


@pytest.mark.parametrize(
    ("n_jobs", "cores", "gpus", "per_trial", "per_gpu", "slots"),
    [
        ("auto", 2, 0, 1, 1, 2),      # CPU machine: one trial per core
        ("auto", 16, 0, 1, 4, 16),    # trials_per_gpu means nothing without GPUs
        ("auto", 16, 1, 1, 1, 1),     # one trial per GPU by default
        ("auto", 16, 2, 1, 3, 6),     # three trials share each GPU
        ("auto", 16, 4, 2, 2, 4),     # two GPUs per trial: 2 groups x 2
        ("auto", 16, 2, 0, 2, 16),    # gpus_per_trial=0: GPUs left alone, cores count
        (3, 16, 2, 1, 2, 3),          # a number is taken as it is
    ],
)
def test_trials_at_a_time(n_jobs, cores: int, gpus: int, per_trial: int, per_gpu: int,
                          slots: int) -> None:
    assert local_slots(n_jobs, cores, gpus, per_trial, per_gpu) == slots


@pytest.mark.parametrize(
    ("n_jobs", "per_gpu", "message"),
    [(0, 1, "n_jobs must be auto or an integer >= 1, got n_jobs=0"),
     ("many", 1, "n_jobs must be auto or an integer >= 1, got n_jobs='many'"),
     ("auto", 0, "trials_per_gpu must be an integer >= 1, got trials_per_gpu=0")],
)
def test_job_counts_that_cannot_be_met(n_jobs, per_gpu: int, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        local_slots(n_jobs, 4, 1, 1, per_gpu)


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
