"""The official Fashion-MNIST: its four IDX files, downloaded from the official mirrors and
MD5-checked, split into a stratified validation set of the 60,000 training images and the
official 10,000 test images."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from fmnist.data.idx import read_idx
from fmnist.data.splits import Splits, check_split, check_train_on, finish_splits
from fmnist.errors import DataError
from fmnist.rules import FRACTION, SIZE, checked

__all__ = [
    "DEFAULT_DATA_DIR",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_MIRRORS",
    "load_fashion_mnist",
]

log = logging.getLogger(__name__)

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
#: The four official files and their published MD5 checksums.
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
#: Official locations, tried in order.
FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
)
DEFAULT_DATA_DIR = "~/.cache/fmnist/fashion-mnist"


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(name: str, target: Path, mirrors: Sequence[str]) -> None:
    errors = []
    for base in mirrors:
        url = base + name
        tmp = target.with_suffix(target.suffix + ".part")
        try:
            log.info("Downloading %s", url)
            with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out)
            tmp.replace(target)
            return
        except OSError as exc:
            errors.append(f"{url}: {exc}")
            tmp.unlink(missing_ok=True)
    raise DataError(
        f"Fashion-MNIST file {name} is not in {target.parent} and could not be downloaded "
        f"({'; '.join(errors)}). Put the four official files "
        f"({', '.join(FASHION_MNIST_FILES)}) into {target.parent}, or point "
        "FMNIST_DATA_DIR (or data.directory=...) at a directory that holds them."
    )


def _ensure_files(directory: Path, download: bool, mirrors: Sequence[str]) -> None:
    for name, md5 in FASHION_MNIST_FILES.items():
        path = directory / name
        if not path.exists():
            if not download:
                raise DataError(
                    f"Fashion-MNIST file {name} is missing from {directory} and "
                    "data.download=false. Put the four official files there or set "
                    "FMNIST_DATA_DIR / data.directory to where they are."
                )
            directory.mkdir(parents=True, exist_ok=True)
            _download(name, path, mirrors)
        actual = _md5(path)
        if actual != md5:
            raise DataError(
                f"{path} has MD5 {actual}, the official file has {md5}: the file is corrupt "
                "or not the official one. Delete it to download it again."
            )


@checked("data", val_fraction=FRACTION, train_size=SIZE, eval_size=SIZE)
def load_fashion_mnist(
    directory: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    val_fraction: float = 0.1,
    train_size: int | None = None,
    eval_size: int | None = None,
    seed: int = 0,
    mirrors: Sequence[str] = FASHION_MNIST_MIRRORS,
    train_on: str = "train",
) -> Splits:
    """The official Fashion-MNIST: a stratified validation split of the 60,000 training images
    and the official 10,000 test images.

    Args:
        directory: where the four ``.gz`` IDX files are (downloaded there when missing and
            ``download``); ``None`` means ``~/.cache/fmnist/fashion-mnist``.
        download: fetch missing files from the official mirrors (MD5-checked).
        val_fraction: share of the training images held out for validation.
        train_size: stratified subset of the remaining training images (None = all).
        eval_size: stratified subset of the validation and of the test images (None = all).
        seed: seeds the split and the subsets.
        train_on: ``train``, or ``train+val`` to train on the training and validation images
            together (after the subsets; no validation split then).
    """
    check_train_on(train_on)
    directory = Path(os.path.expanduser(str(directory or DEFAULT_DATA_DIR))).absolute()
    if directory.exists() and not directory.is_dir():
        raise DataError(f"data.directory={directory} is a file; it must be the directory that "
                        "holds (or will hold) the four Fashion-MNIST .gz files")
    _ensure_files(directory, download, mirrors)
    y_all = read_idx(directory / "train-labels-idx1-ubyte.gz")
    check_split("data.val_fraction", val_fraction, len(y_all), len(np.unique(y_all)))
    x_all = read_idx(directory / "train-images-idx3-ubyte.gz")
    x_test = read_idx(directory / "t10k-images-idx3-ubyte.gz")
    y_test = read_idx(directory / "t10k-labels-idx1-ubyte.gz")
    x_train, x_val, y_train, y_val = train_test_split(
        x_all, y_all, test_size=val_fraction, stratify=y_all, random_state=seed
    )
    return finish_splits(
        (x_train.astype(np.float32) / 255.0, y_train),
        (x_val.astype(np.float32) / 255.0, y_val),
        (x_test.astype(np.float32) / 255.0, y_test),
        train_size=train_size,
        eval_size=eval_size,
        seed=seed,
        class_values=list(range(10)),
        class_names=list(FASHION_MNIST_CLASSES),
        source=f"fashion_mnist ({directory})",
        train_on=train_on,
    )
