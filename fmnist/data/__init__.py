"""Datasets: the official Fashion-MNIST IDX files and the notebook's Kaggle `.npy` format.

Every loader returns a :class:`Splits`: float32 images of shape (N, H, W, 1) in [0, 1], int32 class
ids 0..K-1, and the original class values (``class_values[k]`` is the label written back in
submissions). Splits are stratified and seeded, so the same seed gives the same split.

One concept per module:

* :mod:`~fmnist.data.idx` -- the IDX file format, read with bounds;
* :mod:`~fmnist.data.fashion_mnist` -- the official files: download, checksums, the loader;
* :mod:`~fmnist.data.kaggle` -- the notebook's ``.npy`` file, read by :mod:`~fmnist.data.safe_npy`
  (which :mod:`~fmnist.data.pickle_scan` bounds before anything is unpickled);
* :mod:`~fmnist.data.splits` -- :class:`Splits`, the split checks and the stratified subset;
* :mod:`~fmnist.data.labels` -- a run's ``labels.json``;
* :mod:`~fmnist.data.prediction` -- the images a saved model predicts.

Configs name the loaders here (``_target_: fmnist.data.load_fashion_mnist``).
"""

from __future__ import annotations

from fmnist.data.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_FILES,
    FASHION_MNIST_MIRRORS,
    load_fashion_mnist,
)
from fmnist.data.idx import read_idx
from fmnist.data.kaggle import load_kaggle
from fmnist.data.labels import load_labels, save_labels
from fmnist.data.prediction import load_prediction_file
from fmnist.data.safe_npy import read_npy_dict
from fmnist.data.splits import TRAIN_ON, Splits, check_train_on, stratified_indices

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_MIRRORS",
    "TRAIN_ON",
    "Splits",
    "check_train_on",
    "load_fashion_mnist",
    "load_kaggle",
    "load_labels",
    "load_prediction_file",
    "read_idx",
    "read_npy_dict",
    "save_labels",
    "stratified_indices",
]
