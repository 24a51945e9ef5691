from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.metrics import confusion_matrix as sk_confusion

from fmnist.metrics import classification_metrics, confusion_matrix, flatten


@pytest.mark.parametrize(("seed", "k", "n"), [(0, 10, 500), (1, 5, 37), (2, 3, 9), (3, 10, 20)])
def test_metrics_match_scikit_learn(seed: int, k: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    probs = rng.dirichlet(np.ones(k), size=n)
    # make predictions mostly right so every regime (missing classes, perfect ones) appears
    probs[: n // 2, :] = 0.01
    probs[np.arange(n // 2), y[: n // 2]] = 1.0
    m = classification_metrics(y, probs, k)
    pred = probs.argmax(axis=1)
    labels = list(range(k))
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y, pred, labels=labels, average=avg,
                                                     zero_division=0)
        assert m[f"precision_{avg}"] == pytest.approx(p)
        assert m[f"recall_{avg}"] == pytest.approx(r)
        assert m[f"f1_{avg}"] == pytest.approx(f)
    assert np.array_equal(confusion_matrix(y, pred, k), sk_confusion(y, pred, labels=labels))


def test_loss_matches_keras() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, 64)
    probs = rng.dirichlet(np.ones(4), size=64).astype("float32")
    probs[0] = [1.0, 0.0, 0.0, 0.0]  # exercises the clipping
    y[0] = 2
    expected = float(keras.losses.SparseCategoricalCrossentropy()(y, probs))
    assert classification_metrics(y, probs)["loss"] == pytest.approx(expected, rel=1e-5)


def test_confusion_matrix_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"y_pred must be in \[0, 3\)"):
        confusion_matrix(np.array([0, 1]), np.array([0, 3]), 3)


def test_flatten_names() -> None:
    flat = flatten({"val": {"accuracy": 0.5}, "test": {"f1_macro": 0.25}, "epochs": 3,
                    "status": "completed"})
    assert flat == {"val_accuracy": 0.5, "test_f1_macro": 0.25, "epochs": 3.0}
