"""``python -m fmnist.predict`` as a user runs it: nothing on stderr on success (no TensorFlow
start-up block), and CSV files (the submission, the run's history) with ``\\n`` line endings."""

from __future__ import annotations

from pathlib import Path

from fmnist.app import run
from tests.conftest import run_module


def test_predict_is_quiet_and_writes_unix_line_endings(compose_cfg, kaggle_files, tmp_path: Path) -> None:
    train, pred = kaggle_files
    run(compose_cfg("data=kaggle", f"data.path={train}", "data.eval_size=null"))
    out = tmp_path / "submission.csv"
    proc = run_module("fmnist.predict", str(tmp_path), str(pred), "-o", str(out), "--probabilities",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == f"wrote {out}\n"
    data = out.read_bytes()
    assert b"\r" not in data and data.endswith(b"\n") and data.count(b"\n") == 41
    history = (tmp_path / "history.csv").read_bytes()
    assert b"\r" not in history and history.startswith(b"epoch,loss,accuracy,")
