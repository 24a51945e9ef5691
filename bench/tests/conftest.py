"""The benchmark scripts' own tests share fmnist's fixtures (the real Fashion-MNIST from
``FMNIST_DATA_DIR``, made absolute)."""

from tests.conftest import data_dir, fashion  # noqa: F401
