"""``python -m fmnist.evaluate``: a saved run scored again, and bad input as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fmnist.evaluate import main as evaluate_main
from tests.conftest import TINY, run_module


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("evaluate") / "run"
    proc = run_module("fmnist", *TINY, "model=brief", f"hydra.run.dir={run_dir}",
                      cwd=run_dir.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def test_scores_the_saved_model_as_the_run_did(saved_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "eval"
    assert evaluate_main([str(saved_run), "--split", "val", "--split", "test", "-o", str(out)]) == 0
    scored = json.loads((out / "metrics.json").read_text())
    own = json.loads((saved_run / "metrics.json").read_text())
    for split in ("val", "test"):  # same model, same data and split: the run's own figures
        assert scored[split]["accuracy"] == pytest.approx(own[split]["accuracy"], abs=1e-6)
        assert scored[split]["images"] == 200
        assert (out / f"confusion_matrix_{split}.png").stat().st_size > 0
    rows = (out / "confusion_matrix_test.csv").read_text().splitlines()
    assert len(rows) == 11 and sum(int(v) for r in rows[1:] for v in r.split(",")[1:]) == 200
    assert f"wrote {out / 'metrics.json'}" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["{missing}"], "is not a run directory"),
    (["{run}", "trainer.epochs=3"], "overrides must be data.KEY=VALUE, got 'trainer.epochs=3'"),
    (["{run}", "data.eval_size=-5"], "data.eval_size"),
])
def test_bad_input_is_one_line_and_exit_2(saved_run: Path, tmp_path: Path, capsys, args,
                                           message: str) -> None:
    argv = [a.format(run=saved_run, missing=tmp_path / "nope") for a in args]
    assert evaluate_main([*argv, "-o", str(tmp_path / "eval")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "eval" / "metrics.json").exists()
