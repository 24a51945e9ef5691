from __future__ import annotations

import csv
import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from fmnist.app import run
from fmnist.predict import main as predict_main
from fmnist.predict import write_submission
from tests.hostile_npy import HOSTILE
from tests.npy_files import write_kaggle_file


@pytest.fixture
def kaggle_run(compose_cfg, kaggle_files, tmp_path: Path) -> Path:
    train, _ = kaggle_files
    run(compose_cfg("data=kaggle", f"data.path={train}", "data.train_size=null",
                    "data.eval_size=null"))
    return tmp_path


def _rows(path: Path) -> list[list[str]]:
    with open(path) as f:
        return list(csv.reader(f))


def test_predict_writes_the_kaggle_submission(kaggle_run: Path, kaggle_files, tmp_path) -> None:
    _, pred = kaggle_files
    out = tmp_path / "submission.csv"
    assert predict_main([str(kaggle_run), str(pred), "--output", str(out)]) == 0
    rows = _rows(out)
    assert rows[0] == ["id", "target"] and len(rows) == 41
    assert [int(r[0]) for r in rows[1:]] == list(range(1000, 1040))
    assert {int(r[1]) for r in rows[1:]} <= {1, 2, 3, 4, 5}
    assert len({r[1] for r in rows[1:]}) >= 2

    assert predict_main([str(kaggle_run), str(pred), "-o", str(tmp_path / "p.csv"),
                         "--probabilities"]) == 0
    prob_rows = _rows(tmp_path / "p.csv")
    assert prob_rows[0] == ["id", "target", "p_1", "p_2", "p_3", "p_4", "p_5"]
    for row in prob_rows[1:]:
        probs = [float(x) for x in row[2:]]
        assert sum(probs) == pytest.approx(1.0, abs=1e-4)
        assert int(row[1]) == 1 + int(np.argmax(probs))
    assert [r[1] for r in prob_rows[1:]] == [r[1] for r in rows[1:]]


def test_predict_reads_idx_images(kaggle_run: Path, fashion, tmp_path: Path) -> None:
    images = (fashion.x_test[:7, ..., 0] * 255).astype(np.uint8)
    path = tmp_path / "images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB3I", 0, 8, 3, 7, 28, 28) + images.tobytes())
    assert predict_main([str(kaggle_run), str(path), "-o", str(tmp_path / "idx.csv")]) == 0
    rows = _rows(tmp_path / "idx.csv")
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(7)]


def test_predict_bad_inputs(kaggle_run: Path, tmp_path: Path, capsys) -> None:
    wrong_size = write_kaggle_file(tmp_path / "big.npy", np.zeros((3, 32, 32)), ids=np.arange(3))
    assert predict_main([str(kaggle_run), str(wrong_size)]) == 2
    assert "images are 32x32, the model expects 28x28" in capsys.readouterr().err
    labels = json.loads((kaggle_run / "labels.json").read_text())
    (kaggle_run / "labels.json").write_text(json.dumps(
        {"class_values": labels["class_values"][:3], "class_names": labels["class_names"][:3]}))
    ok = write_kaggle_file(tmp_path / "ok.npy", np.zeros((3, 28, 28)), ids=np.arange(3))
    assert predict_main([str(kaggle_run), str(ok)]) == 2
    assert "predicts 5 classes but" in capsys.readouterr().err
    assert predict_main([str(tmp_path / "missing-run"), str(ok)]) == 2
    assert "model.keras is missing" in capsys.readouterr().err
    hostile = HOSTILE["forged_object_pointer_reconstruct"][0](tmp_path / "hostile.npy")
    (kaggle_run / "labels.json").write_text(json.dumps(labels))
    assert predict_main([str(kaggle_run), str(hostile), "-o", str(tmp_path / "h.csv")]) == 2
    assert "is refused: dtype 'V8'" in capsys.readouterr().err
    (kaggle_run / "labels.json").write_text('{"class_values": [1, 2')
    assert predict_main([str(kaggle_run), str(ok), "-o", str(tmp_path / "c.csv")]) == 2
    assert "cannot read the label mapping" in capsys.readouterr().err
    assert not (tmp_path / "h.csv").exists() and not (tmp_path / "c.csv").exists()


def test_a_failed_write_leaves_no_partial_submission(tmp_path: Path) -> None:
    out = tmp_path / "submission.csv"
    probs = np.eye(3)[[0, 1, 2, 1]]
    write_submission(out, np.arange(4), probs, [10, 20, 30])
    before = out.read_text()
    with pytest.raises(ValueError, match="zip"):  # ids and probabilities disagree mid-way
        write_submission(out, np.arange(3), np.eye(3)[[2, 2, 2, 2]], [10, 20, 30])
    assert out.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    fresh = tmp_path / "fresh.csv"
    with pytest.raises(ValueError):
        write_submission(fresh, np.arange(2), probs, [10, 20, 30])
    assert not fresh.exists() and sorted(p.name for p in tmp_path.iterdir()) == [out.name]
