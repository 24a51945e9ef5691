from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from fmnist import models
from fmnist.errors import ConfigError, WeightsUnavailableError


def _dense(i: int, o: int) -> int:
    return i * o + o


def _conv(k: int, i: int, o: int) -> int:
    return k * k * i * o + o


@pytest.mark.parametrize("n", [10, 5])
def test_brief_shape_and_parameter_count(n: int) -> None:
    model = models.brief((28, 28, 1), n)
    expected = _conv(3, 1, 32) + 4 * 32 + _dense(14 * 14 * 32, 128) + _dense(128, n)
    assert model.count_params() == expected
    assert model.output_shape == (None, n)
    if n == 5:
        assert expected == 804_037  # the notebook's summary


@pytest.mark.parametrize("n", [10, 5])
def test_deeper_shape_and_parameter_count(n: int) -> None:
    model = models.deeper((28, 28, 1), n)
    expected = (
        _conv(3, 1, 32) + 4 * 32 + _conv(3, 32, 64) + _conv(3, 64, 64) + 4 * 64
        + _dense(7 * 7 * 64, 64) + _dense(64, n)
    )
    assert model.count_params() == expected
    assert model.output_shape == (None, n)
    probs = model(np.zeros((2, 28, 28, 1), "float32"))
    assert np.allclose(np.asarray(probs).sum(axis=1), 1.0, atol=1e-5)


def test_deeper_dropout_is_configurable_and_checked() -> None:
    model = models.deeper((28, 28, 1), 10, dropout_conv2=0.1, dropout_conv3=0.4)
    rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.1, 0.4]
    message = r"model.dropout_conv2 must be in \[0, 1\), got model.dropout_conv2=1.2"
    with pytest.raises(ConfigError, match=message):
        models.deeper((28, 28, 1), 10, dropout_conv2=1.2)


@pytest.mark.parametrize("n", [10, 5])
def test_vgg16_frozen_base_pads_and_repeats(n: int) -> None:
    model = models.vgg16((28, 28, 1), n, weights=None)
    assert model.output_shape == (None, n)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 13 and not any(layer.trainable for layer in convs)
    head = _dense(512, 4096) + _dense(4096, 4096) + _dense(4096, n)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == head
    assert tuple(model.get_layer("block1_conv1").input.shape) == (None, 32, 32, 3)


def test_resnet152_frozen_base() -> None:
    model = models.resnet152((28, 28, 1), 5, weights=None)
    assert model.output_shape == (None, 5)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == _dense(2048, 1000) + _dense(1000, 5)


def test_imagenet_weights_offline_is_a_clear_error(monkeypatch, tmp_path) -> None:
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(WeightsUnavailableError, match=r"model.weights=null"):
        models.vgg16((28, 28, 1), 5, weights="imagenet")


def test_unknown_weights_value() -> None:
    with pytest.raises(ConfigError, match="'imagenet' or null, got 'places365'"):
        models.vgg16((28, 28, 1), 5, weights="places365")


def _bn(c: int) -> int:
    return 4 * c  # gamma, beta (trainable), moving mean and variance


def _convnet_params(width: int, depths: list[int], growth: float, n: int) -> int:
    total, c_in = 0, 1
    for stage, blocks in enumerate(depths):
        c = round(width * growth**stage)
        for _ in range(blocks):
            total += 9 * c_in * c + _bn(c)  # conv without bias, then BN
            c_in = c
    return total + _dense(c_in, n)


@pytest.mark.parametrize(("kwargs", "depths"), [
    ({}, [1, 1, 2, 2]),
    ({"width": 24}, [1, 1, 2, 2]),
    ({"width": 32, "depth": 2, "stages": 3}, [2, 2, 2]),
    ({"width": 8, "depth": [3, 1], "growth": 1.5}, [3, 1]),
    ({"width": 16, "depth": [1, 2, 2], "residual": False, "dropout": 0.0, "head_dropout": 0.0},
     [1, 2, 2]),
])
@pytest.mark.parametrize("n", [10, 5])
def test_convnet_parameter_counts(kwargs: dict, depths: list[int], n: int) -> None:
    model = models.convnet((28, 28, 1), n, **kwargs)
    assert model.output_shape == (None, n)
    assert model.count_params() == _convnet_params(kwargs.get("width", 16), depths,
                                                   kwargs.get("growth", 2.0), n)


def test_convnet_defaults_are_under_a_million_parameters_and_residual() -> None:
    model = models.convnet((28, 28, 1), 10)
    assert model.count_params() == 284_250
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)] == [
        "s2b1_add", "s3b1_add"]
    plain = models.convnet((28, 28, 1), 10, residual=False)
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"width": 0}, "model.width must be an integer >= 1, got model.width=0"),
    ({"depth": [1, 0]}, "model.depth must be an integer >= 1 or a list"),
    ({"depth": 1, "stages": 0}, "model.stages must be an integer >= 1"),
    ({"depth": [1] * 6}, "model.depth has 6 stages, too many for 28-pixel inputs"),
    ({"dropout": 1.0}, "model.dropout must be in [0, 1), got model.dropout=1.0"),
    ({"head_dropout": -0.1}, "model.head_dropout must be in [0, 1)"),
    ({"growth": 0.5}, "model.growth must be >= 1, got model.growth=0.5"),
    ({"bn_momentum": 1.0}, "model.bn_momentum must be in (0, 1)"),
])
def test_convnet_settings_are_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        models.convnet((28, 28, 1), 10, **kwargs)
