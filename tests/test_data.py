from __future__ import annotations

import gzip
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from fmnist.data import (
    FASHION_MNIST_FILES,
    load_fashion_mnist,
    load_kaggle,
    load_prediction_file,
    read_idx,
    read_npy_dict,
)
from fmnist.errors import ConfigError, DataError, UnsafeFileError
from tests.npy_files import write_kaggle_file


def test_read_idx_reads_official_files(data_dir: Path) -> None:
    images = read_idx(data_dir / "train-images-idx3-ubyte.gz")
    labels = read_idx(data_dir / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))


def test_read_idx_rejects_non_idx(tmp_path: Path) -> None:
    bad = tmp_path / "x.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x01\x02\x03\x04hello")
    with pytest.raises(DataError, match="not an unsigned-byte IDX"):
        read_idx(bad)


def test_fashion_mnist_split_sizes_stratified_and_seeded(fashion, data_dir: Path) -> None:
    assert (len(fashion.y_train), len(fashion.y_val), len(fashion.y_test)) == (54000, 6000, 10000)
    assert fashion.x_train.shape[1:] == (28, 28, 1) and fashion.x_train.dtype == np.float32
    assert fashion.x_train.min() >= 0.0 and fashion.x_train.max() <= 1.0
    assert np.all(np.bincount(fashion.y_val) == 600)
    again = load_fashion_mnist(data_dir, download=False, seed=0)
    assert np.array_equal(again.y_val, fashion.y_val) and np.array_equal(again.x_val, fashion.x_val)
    other = load_fashion_mnist(data_dir, download=False, seed=1)
    assert not np.array_equal(other.y_val, fashion.y_val)


def test_train_and_eval_size_are_stratified_subsets(data_dir: Path) -> None:
    s = load_fashion_mnist(data_dir, download=False, train_size=2000, eval_size=500, seed=3)
    assert len(s.y_train) == 2000 and len(s.y_val) == 500 and len(s.y_test) == 500
    assert np.all(np.bincount(s.y_train) == 200) and np.all(np.bincount(s.y_test) == 50)


@pytest.mark.parametrize("size", [0, -5, 3])
def test_bad_train_size_is_refused(data_dir: Path, size: int) -> None:
    with pytest.raises(ConfigError, match="train_size"):
        load_fashion_mnist(data_dir, download=False, train_size=size)


def test_bad_val_fraction_is_refused(data_dir: Path) -> None:
    with pytest.raises(ConfigError,
                       match=r"val_fraction must be a number in \(0, 1\), got data.val_fraction=1.5"):
        load_fashion_mnist(data_dir, download=False, val_fraction=1.5)


def test_missing_files_offline_name_the_directory(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    with pytest.raises(DataError, match="nothing-here") as info:
        load_fashion_mnist(empty, download=True, mirrors=("http://127.0.0.1:9/",))
    assert "FMNIST_DATA_DIR" in str(info.value)
    with pytest.raises(DataError, match="download=false"):
        load_fashion_mnist(empty, download=False)


def test_download_verifies_md5(tmp_path: Path, data_dir: Path) -> None:
    """A local HTTP 'mirror' serves the files; a corrupted copy is caught by its MD5."""
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    for name in FASHION_MNIST_FILES:
        shutil.copy(data_dir / name, served / name)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        mirror = (f"http://127.0.0.1:{server.server_address[1]}/",)
        target = tmp_path / "cache"
        s = load_fashion_mnist(target, mirrors=mirror, train_size=100, eval_size=100)
        assert len(s.y_train) == 100 and sorted(os.listdir(target)) == sorted(FASHION_MNIST_FILES)
        corrupt = tmp_path / "corrupt"
        corrupt.mkdir()
        for name in FASHION_MNIST_FILES:
            shutil.copy(data_dir / name, corrupt / name)
        (corrupt / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b broken")
        with pytest.raises(DataError, match="MD5"):
            load_fashion_mnist(corrupt, mirrors=mirror)
    finally:
        server.shutdown()


# ----------------------------------------------------------------------------- Kaggle format


def test_kaggle_file_maps_labels_and_splits_like_the_notebook(kaggle_files) -> None:
    train, _ = kaggle_files
    s = load_kaggle(train, seed=42)
    assert s.class_values == [1, 2, 3, 4, 5] and s.num_classes == 5
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (1200, 150, 150)
    assert set(np.unique(s.y_train)) == {0, 1, 2, 3, 4}
    raw = read_npy_dict(train)
    assert np.array_equal(np.unique(raw["target"]), [1.0, 2.0, 3.0, 4.0, 5.0])


def test_kaggle_features_in_0_255_are_scaled(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(60, 28, 28)).astype(np.float64)
    path = write_kaggle_file(tmp_path / "t.npy", x, target=np.repeat([10, 20, 30], 20))
    s = load_kaggle(path)
    assert s.x_train.max() <= 1.0 and s.x_train.max() > 0.9
    assert s.class_values == [10, 20, 30]


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_kaggle_pickle_that_runs_code_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = np.empty((), dtype=object)
    payload[()] = {"features": np.zeros((3, 28, 28)), "target": _Exploit(marker)}
    path = tmp_path / "evil.npy"
    np.save(path, payload, allow_pickle=True)
    with pytest.raises(UnsafeFileError, match=r"(posix|os)\.system"):
        load_kaggle(path)
    assert not marker.exists()


def test_kaggle_pickle_with_arbitrary_class_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cls.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": ()})
        pickle.dump({"features": Path("/etc/passwd")}, f)
    with pytest.raises(UnsafeFileError, match="pathlib"):
        read_npy_dict(path)


def _write(path: Path, obj: dict) -> Path:
    np.save(path, obj, allow_pickle=True)
    return path


GOOD_X = np.random.default_rng(1).random((30, 28, 28))
GOOD_Y = np.repeat([1.0, 2.0, 3.0], 10)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"target": GOOD_Y}, "no 'features' key"),
        ({"features": GOOD_X}, "no 'target' key"),
        ({"features": GOOD_X[:, :, :5].reshape(30, -1), "target": GOOD_Y}, r"shape \(N, H, W\)"),
        ({"features": GOOD_X, "target": GOOD_Y[:20]}, r"'target' must have shape \(30,\)"),
        ({"features": np.where(GOOD_X > 0.5, np.nan, GOOD_X), "target": GOOD_Y}, "NaN"),
        ({"features": GOOD_X * 300, "target": GOOD_Y}, r"\[0, 1\] or \[0, 255\]"),
        ({"features": GOOD_X - 0.5, "target": GOOD_Y}, r"\[0, 1\] or \[0, 255\]"),
        ({"features": GOOD_X, "target": np.where(GOOD_Y > 2, np.nan, GOOD_Y)}, "'target' holds NaN"),
        ({"features": GOOD_X, "target": np.ones(30)}, "need at least 2"),
    ],
)
def test_kaggle_bad_inputs_give_clear_errors(tmp_path: Path, obj: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_kaggle(_write(tmp_path / "bad.npy", obj))


def test_kaggle_plain_array_and_missing_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain.npy"
    np.save(plain, np.zeros((3, 28, 28)))
    with pytest.raises(DataError, match="plain float64 array"):
        load_kaggle(plain)
    with pytest.raises(DataError, match="does not exist"):
        load_kaggle(tmp_path / "nope.npy")


def test_prediction_file_checks_image_size(tmp_path: Path) -> None:
    path = write_kaggle_file(tmp_path / "p.npy", np.zeros((4, 32, 32)), ids=np.arange(4))
    x, ids = load_prediction_file(path)
    assert x.shape == (4, 32, 32, 1) and list(ids) == [0, 1, 2, 3]
    with pytest.raises(DataError, match="images are 32x32, the model expects 28x28"):
        load_prediction_file(path, image_shape=(28, 28))


def test_sizes_larger_than_the_data_are_errors(data_dir: Path, kaggle_files) -> None:
    with pytest.raises(ConfigError, match=r"data.train_size=100000 is more than the 54000 images "
                                          r"available: data.train_size must be at most 54000"):
        load_fashion_mnist(data_dir, download=False, train_size=100000)
    with pytest.raises(ConfigError, match=r"data.eval_size=8000 .* validation split has 6000, the "
                                          r"test split 10000; data.eval_size must be at most 6000"):
        load_fashion_mnist(data_dir, download=False, eval_size=8000)
    train, _ = kaggle_files
    with pytest.raises(ConfigError, match=r"data\.train_size must be at most 1200"):
        load_kaggle(train, train_size=1201)
    with pytest.raises(ConfigError, match=r"data\.eval_size must be at most 150"):
        load_kaggle(train, eval_size=151)
    s = load_kaggle(train, train_size=1200, eval_size=150)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (1200, 150, 150)


def test_idx_header_declaring_more_than_the_file_is_refused(tmp_path: Path) -> None:
    import struct

    path = tmp_path / "bomb-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB3I", 0, 8, 3, 4_000_000_000, 28, 28) + b"\0" * 784)
    with pytest.raises(DataError, match=r"header says \(4000000000, 28, 28\) = 3136000000000 "
                                        r"bytes, file holds 784"):
        read_idx(path)
    tiny = tmp_path / "tiny-idx3-ubyte"
    tiny.write_bytes(struct.pack(">HBB3I", 0, 8, 3, 5, 2, 2) + b"\0" * 20)
    with pytest.raises(DataError, match="at least 8x8"):
        load_prediction_file(tiny)


def test_read_idx_reads_a_file_once_until_it_changes(tmp_path: Path) -> None:
    """A resident sweep worker runs many jobs: each IDX file is read once per process, read-only,
    and read again when it is replaced (another size or modification time)."""
    import os
    import struct

    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(struct.pack(">HBBI", 0, 8, 1, 3) + bytes([1, 2, 3]))
    first = read_idx(path)
    assert read_idx(path) is first and not first.flags.writeable
    path.write_bytes(struct.pack(">HBBI", 0, 8, 1, 4) + bytes([4, 5, 6, 7]))
    assert read_idx(path).tolist() == [4, 5, 6, 7]
    path.write_bytes(struct.pack(">HBBI", 0, 8, 1, 4) + bytes([9, 9, 9, 9]))  # same size
    os.utime(path, ns=(1, 1))  # and an older time: still another file
    assert read_idx(path).tolist() == [9, 9, 9, 9]
    path.unlink()
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(path)
