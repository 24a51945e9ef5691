"""Files written whole or not at all (atomic.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra_plugins.fmnist_optuna_sweeper import atomic


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "optimization_results.yaml"
    path.write_text("old\n")
    with pytest.raises(RuntimeError, match="disk"), atomic.atomic_path(path) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("disk full half-way")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_failing_first_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "metrics.json"
    with pytest.raises(KeyboardInterrupt), atomic.atomic_path(path) as tmp:
        tmp.write_text("{")
        raise KeyboardInterrupt
    assert list(path.parent.iterdir()) == []


def test_the_temporary_keeps_the_suffix_and_the_result_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    with atomic.atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".model.") and tmp.suffix == ".keras"
        tmp.write_bytes(b"v1")
    assert path.read_bytes() == b"v1" and (path.stat().st_mode & 0o777) == 0o644
    os.chmod(path, 0o600)
    atomic.write_bytes(path, b"v2")
    assert path.read_bytes() == b"v2" and (path.stat().st_mode & 0o777) == 0o600
    assert atomic.write_text(tmp_path / "a.csv", "x\n").read_text() == "x\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "model.keras"]
