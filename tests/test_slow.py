"""Full-size training (deselected by default; ``python -m pytest -m slow``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fmnist.app import run


@pytest.mark.slow
def test_brief_cnn_on_all_of_fashion_mnist(compose_cfg, tmp_path: Path) -> None:
    """The default job on the full data: the notebook's brief CNN reaches ~90 % in a few
    epochs."""
    run(compose_cfg("trainer.epochs=3", tiny=False))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.88
    assert metrics["epochs"] == 3


@pytest.mark.slow
def test_deeper_elastic_sgdr_learns_on_all_of_fashion_mnist(compose_cfg, tmp_path: Path) -> None:
    """The notebook's best recipe, 3 epochs on the full data."""
    run(compose_cfg("+experiment=deeper_elastic", "trainer.epochs=3", tiny=False))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.85
