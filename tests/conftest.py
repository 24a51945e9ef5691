"""Shared fixtures: the real Fashion-MNIST (from FMNIST_DATA_DIR or ../shared/data), the real
config composed with Hydra's compose API and shrunk to a few hundred images."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import fmnist  # noqa: F401  (environment for TensorFlow / Keras)

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
# absolute: the tests start fmnist in subprocesses from temporary directories, where the
# README's relative FMNIST_DATA_DIR=../shared/data/fashion-mnist would name nothing
DATA_DIR = Path(os.environ.get("FMNIST_DATA_DIR",
                               REPO.parent / "shared" / "data" / "fashion-mnist")).absolute()
os.environ["FMNIST_DATA_DIR"] = str(DATA_DIR)

#: Overrides that shrink any job to seconds.
TINY = [
    "data.train_size=300",
    "data.eval_size=200",
    "trainer.epochs=1",
    "trainer.batch_size=32",
]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"Fashion-MNIST not found in {DATA_DIR} (set FMNIST_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def fashion(data_dir: Path):
    from fmnist.data import load_fashion_mnist

    return load_fashion_mnist(data_dir, download=False, seed=0)


@pytest.fixture
def compose_cfg(data_dir: Path, tmp_path: Path):
    """compose(overrides) -> the real config, shrunk, writing into tmp_path."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    def _compose(*overrides: str, tiny: bool = True):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(
                "config",
                overrides=[*(TINY if tiny else []), f"paths.output_dir={tmp_path}", *overrides],
            )

    yield _compose
    GlobalHydra.instance().clear()


def run_module(*args: str, cwd: Path, timeout: int = 600, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    """``python -m <args>`` in a subprocess; fails the test with its output on error."""
    full_env = {**os.environ, "FMNIST_DATA_DIR": str(DATA_DIR), **(env or {})}
    proc = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=full_env, text=True,
                          capture_output=True, timeout=timeout)
    return proc


@pytest.fixture
def kaggle_files(fashion, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A training file and a prediction file in the notebook's format, built from real
    Fashion-MNIST images of five classes with labels 1..5 (as the notebook's data)."""
    import numpy as np

    from tests.npy_files import write_kaggle_file

    keep = np.isin(fashion.y_train, [0, 1, 2, 3, 4])
    x, y = fashion.x_train[keep][:1500, ..., 0], fashion.y_train[keep][:1500]
    train = write_kaggle_file(tmp_path / "train.npy", x, target=y + 1.0)
    test_keep = np.isin(fashion.y_test, [0, 1, 2, 3, 4])
    xp = fashion.x_test[test_keep][:40, ..., 0]
    pred = write_kaggle_file(tmp_path / "kaggle.npy", xp, ids=np.arange(1000, 1000 + len(xp)))
    yield train, pred
