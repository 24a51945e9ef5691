"""Augmentation benchmark: elastic distortion throughput (ours, the notebook's per-image scipy
version, Keras 3's RandomElasticTransform) and the epoch-time cost of augment=elastic on the
deeper model. Run on one machine, in one process:

    FMNIST_DATA_DIR=../shared/data/fashion-mnist python bench/augment.py [--train-size N]

Throughputs are the best of 5 timings; the epoch-time ratio is the median over back-to-back
pairs of epochs of one model (this machine's speed drifts by up to 2x between minutes).
Prints measured figures and ratios; targets: elastic >= 10x the scipy version's images/s, and
deeper-model epoch time with augment=elastic <= 1.10x augment=none.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time

import keras
import numpy as np
import tensorflow as tf
from scipy.ndimage import gaussian_filter, map_coordinates

import fmnist  # noqa: F401
from fmnist.augment import ElasticDistortion, RandomAffine, build_augmentation
from fmnist.data import load_fashion_mnist
from fmnist.models import deeper
from fmnist.train import EpochLogger, make_dataset


def notebook_elastic(image: np.ndarray, alpha_range=(10, 12), sigma=3, random_state=None):
    """The notebook's elastic_transform, verbatim in substance (including its 'xy' grid)."""
    if random_state is None:
        random_state = np.random.RandomState(None)
    alpha = np.random.uniform(low=alpha_range[0], high=alpha_range[1])
    shape = image.shape
    dx = gaussian_filter((random_state.rand(*shape) * 2 - 1), sigma) * alpha
    dy = gaussian_filter((random_state.rand(*shape) * 2 - 1), sigma) * alpha
    x, y, z = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), np.arange(shape[2]))
    indices = np.reshape(x + dx, (-1, 1)), np.reshape(y + dy, (-1, 1)), np.reshape(z, (-1, 1))
    return map_coordinates(image, indices, order=1, mode="reflect").reshape(shape)


def images_per_second(fn, n_images: int, repeats: int = 5) -> float:
    """Best of ``repeats`` timings (as timeit does): the machine's noise only ever slows."""
    fn()  # warm up / trace
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        rates.append(n_images / (time.perf_counter() - start))
    return max(rates)


def pipeline_rate(x: np.ndarray, layer) -> float:
    ds = make_dataset(x, np.zeros(len(x), "int32"), 128, augmentation=layer)

    def consume():
        for _ in ds:
            pass

    return images_per_second(consume, len(x))


def paired_epoch_seconds(splits, augment, pairs: int, seed: int = 0) -> list[tuple[float, float]]:
    """(seconds without, seconds with augmentation) of alternating epochs of one deeper model:
    each pair runs back to back, so the machine's drift hits both sides alike."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = deeper(splits.input_shape, splits.num_classes)
    model.compile(keras.optimizers.Adamax(0.002), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    plain = make_dataset(splits.x_train, splits.y_train, 128, shuffle_seed=seed)
    augmented = make_dataset(splits.x_train, splits.y_train, 128, shuffle_seed=seed,
                             augmentation=augment)

    def epoch(ds) -> float:
        logger = EpochLogger()
        model.fit(ds, epochs=1, verbose=0, callbacks=[logger])
        return logger.rows[0]["seconds"]

    epoch(plain), epoch(augmented)  # tracing and warm-up
    return [(epoch(plain), epoch(augmented)) for _ in range(pairs)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-size", type=int, default=None, help="default: all 54,000")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--scipy-images", type=int, default=2000)
    args = parser.parse_args()
    splits = load_fashion_mnist(os.environ.get("FMNIST_DATA_DIR"), download=False,
                                train_size=args.train_size, eval_size=1000, seed=0)
    x = splits.x_train
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs, "
          f"{len(x)} training images")

    sample = x[: args.scipy_images]
    rs = np.random.RandomState(0)
    scipy_rate = images_per_second(lambda: [notebook_elastic(img, random_state=rs) for img in sample],
                                   len(sample))
    ours = ElasticDistortion(alpha=[10, 12], sigma=3.0, seed=0)
    ours_rate = pipeline_rate(x, ours)
    keras_layer = keras.layers.RandomElasticTransform(factor=1.0, scale=1.0, seed=0)
    keras_rate = pipeline_rate(x, keras_layer)
    print(f"elastic, notebook scipy per image : {scipy_rate:10.0f} images/s")
    print(f"elastic, ours in tf.data          : {ours_rate:10.0f} images/s "
          f"({ours_rate / scipy_rate:.1f}x scipy; target >= 10x)")
    print(f"elastic, Keras RandomElasticTransform: {keras_rate:7.0f} images/s "
          f"({keras_rate / scipy_rate:.1f}x scipy)")

    elastic = build_augmentation(
        [functools.partial(RandomAffine, height_shift_range=2, horizontal_flip=True),
         functools.partial(ElasticDistortion, alpha=[10, 12], sigma=3.0)], seed=0)
    pairs = paired_epoch_seconds(splits, elastic, args.pairs)
    none_times = [a for a, _ in pairs]
    elastic_times = [b for _, b in pairs]
    ratios = [b / a for a, b in pairs]
    print(f"deeper, augment=none   : median epoch {statistics.median(none_times):.2f} s "
          f"({len(x) / statistics.median(none_times):.0f} images/s) {[round(t, 2) for t in none_times]}")
    print(f"deeper, augment=elastic: median epoch {statistics.median(elastic_times):.2f} s "
          f"({len(x) / statistics.median(elastic_times):.0f} images/s) "
          f"{[round(t, 2) for t in elastic_times]}")
    print(f"epoch time ratio elastic / none: median of {len(ratios)} back-to-back pairs "
          f"{statistics.median(ratios):.3f} (target <= 1.10); pairs {[round(r, 2) for r in ratios]}")


if __name__ == "__main__":
    main()
