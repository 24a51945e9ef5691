from __future__ import annotations

import itertools
import math

import keras
import numpy as np
import pytest

from fmnist.errors import ConfigError
from fmnist.schedules import SGDR, WarmupCosine, sgdr_learning_rate, warmup_cosine_learning_rate


def notebook_sgdr(max_lr: float, min_lr: float, T: float, T_mul: float, steps: int, total: int):
    """The notebook's CosineAnneal callback, transcribed line by line."""
    state = {"T": T, "T_cur": 0.0, "step": 0}
    rates = []
    for _ in range(total):
        if state["T"] <= state["T_cur"]:
            state["T"] *= T_mul
            state["T_cur"] = 0
            state["step"] = 0
        lr = min_lr + 0.5 * (max_lr - min_lr) * (1 + np.cos(state["T_cur"] / state["T"] * np.pi))
        rates.append(lr)
        state["step"] += 1
        state["T_cur"] = state["step"] / steps
    return rates


@pytest.mark.parametrize(
    ("T", "T_mul", "steps", "epochs"),
    [(10, 1, 7, 45), (2, 2, 5, 40), (1, 2, 3, 30), (3, 1, 375, 10), (1.5, 2, 4, 25)],
)
def test_sgdr_equals_the_notebook_formula_over_restarts(T, T_mul, steps, epochs) -> None:
    expected = notebook_sgdr(0.006, 0.001, T, T_mul, steps, steps * epochs)
    ours = [sgdr_learning_rate(i, steps, 0.006, 0.001, T, T_mul) for i in range(steps * epochs)]
    assert ours == pytest.approx(expected, rel=1e-12, abs=1e-15)
    restarts = sum(1 for a, b in itertools.pairwise(ours) if b > a)
    assert restarts >= 2


def test_sgdr_callback_sets_the_rate_used_each_batch() -> None:
    x = np.random.default_rng(0).random((40, 4)).astype("float32")
    y = (x.sum(axis=1) > 2).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adamax(0.1), "sparse_categorical_crossentropy")
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(self.model.optimizer.learning_rate))

    model.fit(x, y, batch_size=10, epochs=6, verbose=0, callbacks=[SGDR(0.006, 0.001, T=2, T_mul=2), Spy()])
    assert seen == pytest.approx(notebook_sgdr(0.006, 0.001, 2, 2, 4, 24), rel=1e-6)


def test_sgdr_min_lr_fraction_and_errors() -> None:
    cb = SGDR(max_lr=0.01, min_lr_fraction=0.25)
    assert cb.min_lr == pytest.approx(0.0025)
    with pytest.raises(ConfigError, match=r"min_lr < max_lr, got min_lr=0\.01, max_lr=0\.005"):
        SGDR(max_lr=0.005, min_lr=0.01)
    with pytest.raises(ConfigError, match="T_mul must be >= 1"):
        SGDR(0.01, 0.001, T_mul=0.5)
    with pytest.raises(ConfigError, match="T must be > 0"):
        SGDR(0.01, 0.001, T=0)
    assert math.isclose(sgdr_learning_rate(0, 10, 0.006, 0.001, 10), 0.006)


@pytest.mark.parametrize(
    ("make", "rate_of_last_step"),
    [(lambda: SGDR(0.006, 0.001, T=1.5, T_mul=2),
      lambda steps, total: sgdr_learning_rate(total - 1, steps, 0.006, 0.001, 1.5, 2)),
     (lambda: WarmupCosine(0.01, warmup_epochs=1, final_fraction=0.1),
      lambda steps, total: warmup_cosine_learning_rate(total - 1, total, 0.01, steps, 0.0, 0.1))],
)
def test_per_step_schedules_train_alike_with_several_steps_per_call(make, rate_of_last_step) -> None:
    """A rate per step also inside one call of 4 steps: the weights after training equal those
    of one step per call, and the optimizer's rate variable holds the last step's rate."""
    rng = np.random.default_rng(0)
    x = rng.random((40, 4)).astype("float32")
    y = (x.sum(axis=1) > 2).astype("int32")
    weights, rates = {}, {}
    for spe in (1, 4):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(keras.optimizers.Adamax(0.1), "sparse_categorical_crossentropy",
                      steps_per_execution=spe)
        model.fit(x, y, batch_size=10, epochs=5, verbose=0, shuffle=False, callbacks=[make()])
        weights[spe] = model.get_weights()
        rates[spe] = float(model.optimizer.learning_rate)
    for w1, w4 in zip(weights[1], weights[4], strict=True):
        np.testing.assert_allclose(w4, w1, rtol=1e-6, atol=1e-7)
    assert rates[1] == rates[4] == pytest.approx(rate_of_last_step(4, 20), rel=1e-6)
