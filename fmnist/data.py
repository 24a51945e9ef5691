"""Datasets: the official Fashion-MNIST IDX files and the notebook's Kaggle `.npy` format.

Every loader returns a :class:`Splits`: float32 images of shape (N, H, W, 1) in [0, 1], int32 class
ids 0..K-1, and the original class values (``class_values[k]`` is the label written back in
submissions). Splits are stratified and seeded, so the same seed gives the same split.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import struct
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from fmnist.errors import ConfigError, DataError
from fmnist.safe_npy import read_npy_dict

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
    "write_kaggle_file",
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
#: what a run trains on (``data.train_on``): the training split, or training and validation
#: together for a final model (no validation split then)
TRAIN_ON = ("train", "train+val")


@dataclass(frozen=True)
class Splits:
    """Train / validation / test arrays plus the label mapping.

    ``x_*`` are float32 (N, H, W, 1) in [0, 1]; ``y_*`` are int32 class ids 0..K-1;
    ``class_values[k]`` is the original label of class id ``k`` and ``class_names[k]`` its name.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_values: list[Any]
    class_names: list[str]
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_values)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) arrays of ``name`` in ``train``, ``val``, ``test``."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"split must be one of train, val, test, got {name!r}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def describe(self) -> str:
        return (
            f"{self.source}: {len(self.y_train)} train / {len(self.y_val)} val / "
            f"{len(self.y_test)} test images of shape {self.input_shape}, "
            f"{self.num_classes} classes {self.class_values}"
        )


# ----------------------------------------------------------------------------- IDX files


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a uint8 array.

    >>> read_idx("train-labels-idx1-ubyte.gz").shape  # doctest: +SKIP
    (60000,)
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4:
                raise DataError(f"{path} is not an IDX file: only {len(head)} bytes")
            zero, dtype_code, ndim = struct.unpack(">HBB", head)
            if zero != 0 or dtype_code != 0x08:
                raise DataError(
                    f"{path} is not an unsigned-byte IDX file: magic {head.hex()} "
                    "(expected 0000 08 <ndim>)"
                )
            dim_bytes = f.read(4 * ndim)
            if len(dim_bytes) != 4 * ndim:
                raise DataError(f"{path}: the header is cut short ({ndim} dimensions announced)")
            dims = struct.unpack(f">{ndim}I", dim_bytes)
            expected = int(np.prod(dims, dtype=object))
            # Read in blocks up to what the header declares, so that neither a header declaring
            # billions of images nor a small compressed file expanding to gigabytes (a gzip
            # bomb) makes this allocate more than the declared size plus one block.
            chunks, held = [], 0
            while held <= expected:
                block = f.read(min(1 << 24, expected + 1 - held))
                if not block:
                    break
                chunks.append(block)
                held += len(block)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from exc
    if held != expected:
        raise DataError(
            f"{path}: header says {dims} = {expected} bytes, file holds "
            f"{'more' if held > expected else held}"
        )
    body = np.frombuffer(b"".join(chunks), dtype=np.uint8)
    return body.reshape(dims)


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


# ----------------------------------------------------------------------------- splitting


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{name} must be in (0, 1), got {name}={value}")


def _subset(
    x: np.ndarray, y: np.ndarray, size: int | None, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """A stratified, seeded subset of ``size`` samples (all of them when size is None)."""
    if size is not None and size > len(y):
        raise ConfigError(
            f"{what}={size} is more than the {len(y)} images available: {what} must be at most "
            f"{len(y)} (or null for all)"
        )
    if size is None or size == len(y):
        return x, y
    n_classes = len(np.unique(y))
    if size < n_classes:
        raise ConfigError(
            f"{what} must be at least the number of classes ({n_classes}) for a stratified "
            f"subset, got {what}={size}"
        )
    x_sub, _, y_sub, _ = train_test_split(x, y, train_size=size, stratify=y, random_state=seed)
    return x_sub, y_sub


def _finish(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    train_size: int | None,
    eval_size: int | None,
    seed: int,
    class_values: list[Any],
    class_names: list[str],
    source: str,
    extra: dict[str, Any] | None = None,
    train_on: str = "train",
) -> Splits:
    check_train_on(train_on)
    for name, size in (("data.train_size", train_size), ("data.eval_size", eval_size)):
        if size is not None and (not isinstance(size, int) or size <= 0):
            raise ConfigError(f"{name} must be a positive integer or null, got {name}={size!r}")
    if eval_size is not None and eval_size > min(len(y_val), len(y_test)):
        raise ConfigError(
            f"data.eval_size={eval_size} is more than the images available: the validation split "
            f"has {len(y_val)}, the test split {len(y_test)}; data.eval_size must be at most "
            f"{min(len(y_val), len(y_test))} (or null for all)"
        )
    x_train, y_train = _subset(x_train, y_train, train_size, seed, "data.train_size")
    x_val, y_val = _subset(x_val, y_val, eval_size, seed, "data.eval_size")
    x_test, y_test = _subset(x_test, y_test, eval_size, seed, "data.eval_size")
    if train_on == "train+val":  # validation folded into training: no validation split
        x_train, y_train = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
        x_val, y_val = x_val[:0], y_val[:0]
    splits = Splits(
        _as_images(x_train),
        y_train.astype(np.int32),
        _as_images(x_val),
        y_val.astype(np.int32),
        _as_images(x_test),
        y_test.astype(np.int32),
        class_values=class_values,
        class_names=class_names,
        source=source,
        extra=extra or {},
    )
    log.info("Data: %s", splits.describe())
    return splits


def check_train_on(train_on: str) -> None:
    """``data.train_on`` must be one of :data:`TRAIN_ON`."""
    if train_on not in TRAIN_ON:
        raise ConfigError(f"data.train_on must be one of {', '.join(TRAIN_ON)}, "
                          f"got data.train_on={train_on!r}")


def _as_images(x: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, 1) float in [0, 1] -> contiguous float32 (N, H, W, 1)."""
    if x.ndim == 3:
        x = x[..., None]
    return np.ascontiguousarray(x, dtype=np.float32)


# ----------------------------------------------------------------------------- Fashion-MNIST


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
    _check_fraction("data.val_fraction", val_fraction)
    check_train_on(train_on)
    directory = Path(os.path.expanduser(str(directory or DEFAULT_DATA_DIR)))
    _ensure_files(directory, download, mirrors)
    x_all = read_idx(directory / "train-images-idx3-ubyte.gz")
    y_all = read_idx(directory / "train-labels-idx1-ubyte.gz")
    x_test = read_idx(directory / "t10k-images-idx3-ubyte.gz")
    y_test = read_idx(directory / "t10k-labels-idx1-ubyte.gz")
    x_train, x_val, y_train, y_val = train_test_split(
        x_all, y_all, test_size=val_fraction, stratify=y_all, random_state=seed
    )
    return _finish(
        x_train.astype(np.float32) / 255.0,
        y_train,
        x_val.astype(np.float32) / 255.0,
        y_val,
        x_test.astype(np.float32) / 255.0,
        y_test,
        train_size=train_size,
        eval_size=eval_size,
        seed=seed,
        class_values=list(range(10)),
        class_names=list(FASHION_MNIST_CLASSES),
        source=f"fashion_mnist ({directory})",
        train_on=train_on,
    )


# ----------------------------------------------------------------------------- Kaggle .npy

#: smallest image side accepted (Fashion-MNIST is 28x28): a file of a million 1x1 "images"
#: is not a data set
MIN_IMAGE_SIDE = 8


def _check_image_size(shape: tuple[int, ...], path: Path) -> None:
    if min(shape[1:3]) < MIN_IMAGE_SIDE:
        raise DataError(f"{path}: images must be at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} "
                        f"pixels, got {shape[1]}x{shape[2]} (shape {shape})")


def _features(obj: dict[str, Any], path: Path) -> np.ndarray:
    if "features" not in obj:
        raise DataError(f"{path} has no 'features' key (keys: {sorted(obj)})")
    x = np.asarray(obj["features"])
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[0] == 0:
        raise DataError(
            f"{path}: 'features' must have shape (N, H, W) or (N, H, W, 1), got {x.shape}"
        )
    _check_image_size(x.shape, path)
    if not np.issubdtype(x.dtype, np.number) or x.dtype.kind == "c":
        raise DataError(f"{path}: 'features' must be real numbers, got dtype {x.dtype}")
    try:
        x = x.astype(np.float32)
    except MemoryError as exc:
        raise DataError(f"{path}: not enough memory for {x.shape[0]:,} images of "
                        f"{x.shape[1]}x{x.shape[2]} as float32") from exc
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise DataError(f"{path}: 'features' holds {bad} NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise DataError(
            f"{path}: 'features' must lie in [0, 1] or [0, 255], got values in [{lo}, {hi}]"
        )
    return x / 255.0 if hi > 1.0 else x


def _plain(value: Any) -> Any:
    """Numpy scalar -> plain Python value; integral floats become ints (1.0 -> 1)."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def load_kaggle(
    path: str | os.PathLike[str],
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    train_size: int | None = None,
    eval_size: int | None = None,
    seed: int = 42,
    predict_path: str | os.PathLike[str] | None = None,
    class_names: Sequence[str] | None = None,
    train_on: str = "train",
) -> Splits:
    """The notebook's Kaggle format: a ``.npy`` pickled dict ``{'features', 'target'}``.

    The target values (any set, e.g. 1..5) are mapped to 0..K-1 in sorted order; the mapping is
    ``Splits.class_values``. The split is the notebook's: ``test_fraction + val_fraction`` is
    held out (stratified, seeded) and then divided between validation and test (80/10/10 by
    default). ``predict_path``, when given, is checked now (features only) and kept in
    ``Splits.extra['predict']`` so the run can write a submission. ``train_on=train+val``
    trains on the training and validation images together (no validation split then).
    """
    _check_fraction("data.val_fraction", val_fraction)
    check_train_on(train_on)
    _check_fraction("data.test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1:
        raise ConfigError(
            "data.val_fraction + data.test_fraction must be < 1, got "
            f"{val_fraction} + {test_fraction}"
        )
    path = Path(os.path.expanduser(str(path)))
    obj = read_npy_dict(path)
    x = _features(obj, path)
    if "target" not in obj:
        raise DataError(f"{path} has no 'target' key (keys: {sorted(obj)}): cannot train on it")
    target = np.asarray(obj["target"])
    if target.ndim != 1 or len(target) != len(x):
        raise DataError(
            f"{path}: 'target' must have shape ({len(x)},) to match 'features', got {target.shape}"
        )
    if np.issubdtype(target.dtype, np.floating) and not np.isfinite(target).all():
        raise DataError(f"{path}: 'target' holds NaN or infinite values")
    values, y = np.unique(target, return_inverse=True)
    if len(values) < 2:
        raise DataError(f"{path}: 'target' has {len(values)} class value(s); need at least 2")
    counts = np.bincount(y)
    if counts.min() < 3:
        raise DataError(
            f"{path}: class {values[counts.argmin()]!r} has {counts.min()} image(s); each class "
            "needs at least 3 for a stratified train/val/test split"
        )
    class_values = [_plain(v) for v in values]
    names = list(class_names) if class_names else [str(v) for v in class_values]
    if len(names) != len(class_values):
        raise ConfigError(
            f"data.class_names has {len(names)} names for {len(class_values)} classes "
            f"{class_values}"
        )
    held = val_fraction + test_fraction
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=held, stratify=y, random_state=seed
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=test_fraction / held, stratify=y_rest, random_state=seed
    )
    extra: dict[str, Any] = {}
    if predict_path is not None:
        extra["predict"] = load_prediction_file(predict_path, image_shape=x.shape[1:])
    return _finish(
        x_train,
        y_train,
        x_val,
        y_val,
        x_test,
        y_test,
        train_size=train_size,
        eval_size=eval_size,
        seed=seed,
        class_values=class_values,
        class_names=names,
        source=f"kaggle ({path})",
        extra=extra,
        train_on=train_on,
    )


def load_prediction_file(
    path: str | os.PathLike[str], image_shape: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images and ids to predict: the notebook's ``.npy`` (``features`` and ``id``) or an IDX
    image file (ids 0..N-1). Returns (float32 (N, H, W, 1) in [0, 1], ids).

    ``image_shape`` (H, W), when given, must match the file's images.
    """
    path = Path(os.path.expanduser(str(path)))
    if path.suffix == ".npy":
        obj = read_npy_dict(path)
        x = _features(obj, path)
        if "id" in obj:
            ids = np.asarray(obj["id"])
            if ids.shape != (len(x),):
                raise DataError(
                    f"{path}: 'id' must have shape ({len(x)},) to match 'features', "
                    f"got {ids.shape}"
                )
        else:
            ids = np.arange(len(x))
    else:
        raw = read_idx(path)
        if raw.ndim != 3:
            raise DataError(f"{path}: an IDX image file must be 3-D (N, H, W), got {raw.shape}")
        _check_image_size(raw.shape, path)
        x, ids = raw.astype(np.float32) / 255.0, np.arange(len(raw))
    if image_shape is not None and tuple(x.shape[1:3]) != tuple(image_shape)[:2]:
        raise DataError(
            f"{path}: images are {x.shape[1]}x{x.shape[2]}, the model expects "
            f"{image_shape[0]}x{image_shape[1]}"
        )
    return _as_images(x), ids


def write_kaggle_file(
    path: str | Path, features: np.ndarray, *, target: np.ndarray | None = None,
    ids: np.ndarray | None = None
) -> Path:
    """Write a file in the notebook's format (``np.save`` of a dict), for tests and examples."""
    obj: dict[str, Any] = {"features": np.asarray(features, dtype=np.float64)}
    if target is not None:
        obj["target"] = np.asarray(target, dtype=np.float64)
    if ids is not None:
        obj["id"] = np.asarray(ids)
    path = Path(path)
    np.save(path, obj, allow_pickle=True)  # type: ignore[arg-type]
    return path


# ----------------------------------------------------------------------------- label mapping


def save_labels(path: str | Path, class_values: list[Any], class_names: list[str]) -> None:
    """Write the class-id -> original-value mapping (``labels.json``) of a run."""
    Path(path).write_text(
        json.dumps({"class_values": class_values, "class_names": class_names}, indent=2) + "\n"
    )


def load_labels(path: str | Path) -> tuple[list[Any], list[str]]:
    """The mapping :func:`save_labels` wrote; a damaged file is a :class:`DataError`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read the label mapping {path}: {exc}") from exc
    values, names = (data.get(k) if isinstance(data, dict) else None
                     for k in ("class_values", "class_names"))
    if not isinstance(values, list) or not isinstance(names, list) or len(values) != len(names):
        raise DataError(f"{path} is not a label mapping: expected lists 'class_values' and "
                        "'class_names' of the same length")
    return values, [str(n) for n in names]
