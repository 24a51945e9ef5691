"""The restricted ``.npy`` reader against a table of hostile files (tests/hostile_npy.py).

Each hostile file is loaded in a subprocess under a 1.5 GiB address-space limit, through the same
path training or ``predict`` takes, so a crash (the forged object pointers segfaulted the
previous reader in ``np.unique``) or a memory bomb fails one case instead of killing pytest.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from fmnist.data.safe_npy import read_npy_dict
from fmnist.errors import DataError, UnsafeFileError
from tests.conftest import REPO
from tests.hostile_npy import GOOD_X, GOOD_Y, HOSTILE, header

_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
path, how = sys.argv[1], sys.argv[2]
try:
    if how == "read":
        from fmnist.data.safe_npy import read_npy_dict
        read_npy_dict(path)
    else:
        from fmnist.data import load_kaggle, load_prediction_file
        load_prediction_file(path) if how == "predict" else load_kaggle(path)
    print(json.dumps({"error": None}))
except BaseException as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
"""

#: cases loaded as a prediction file (images only) / as training data; the others go through
#: read_npy_dict alone (a lighter import: the table stays fast)
_PREDICT = {"zero_strides_1e6_images", "zero_strides_1e7_images", "million_1x1_images"}
_KAGGLE = {"forged_object_pointer_ndarray", "forged_object_pointer_reconstruct"}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_is_refused_cleanly(case: str, tmp_path: Path) -> None:
    build, error, pattern = HOSTILE[case]
    path = build(tmp_path / f"{case}.npy")
    how = "predict" if case in _PREDICT else "kaggle" if case in _KAGGLE else "read"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), how],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, f"{case}: the loader died ({proc.returncode}): {proc.stderr[-2000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["error"] == error, f"{case}: {result}"
    assert str(path) in result["message"], result["message"]
    assert re.search(pattern, result["message"]), result["message"]
    assert not (tmp_path / "MARKER").exists(), f"{case}: the file ran code"


# ----------------------------------------------------------------------------- accepted files


def _save_with_protocol(path: Path, obj: object, protocol: int) -> Path:
    path.write_bytes(header() + pickle.dumps(np.array(obj, dtype=object), protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_np_save_dicts_load_exactly_whatever_the_protocol(tmp_path: Path, protocol: int) -> None:
    obj = {
        "features": GOOD_X,
        "target": GOOD_Y,
        "id": np.arange(30, dtype=np.int64),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "big_endian": np.arange(5, dtype=">i4"),
        "flags": np.array([True, False]),
        "names": np.array(["top", "trouser"]),
        "scalar": np.float32(2.5),
        "plain": 7,
        "none": None,
    }
    got = read_npy_dict(_save_with_protocol(tmp_path / "ok.npy", obj, protocol))
    assert sorted(got) == sorted(obj)
    for key, value in obj.items():
        if isinstance(value, np.ndarray):
            assert got[key].dtype == value.dtype.newbyteorder("=") and got[key].flags.c_contiguous
            assert np.array_equal(got[key], value), key
        else:
            assert got[key] == value
    assert got["big_endian"].dtype.isnative and got["big_endian"].tolist() == [0, 1, 2, 3, 4]


def test_np_save_itself_and_ordered_dicts_load(tmp_path: Path) -> None:
    path = tmp_path / "saved.npy"
    np.save(path, {"features": GOOD_X, "target": GOOD_Y}, allow_pickle=True)  # type: ignore[arg-type]
    assert np.array_equal(read_npy_dict(path)["features"], GOOD_X)
    ordered = tmp_path / "ordered.npy"
    ordered.write_bytes(header() + pickle.dumps(OrderedDict(features=GOOD_X), protocol=4))
    assert np.array_equal(read_npy_dict(ordered)["features"], GOOD_X)


def test_missing_file_and_unreadable_pickle_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_npy_dict(tmp_path / "nope.npy")
    empty = tmp_path / "empty.npy"
    empty.write_bytes(header())
    with pytest.raises(DataError, match="unreadable") as info:
        read_npy_dict(empty)
    assert not isinstance(info.value, UnsafeFileError)


def test_a_global_token_cannot_be_changed_by_the_pickle(tmp_path: Path) -> None:
    """BUILD with slot state on an allowed global would setattr on it; refused, and the
    next load still works."""
    body = io.BytesIO()
    body.write(b"\x80\x02cnumpy\ndtype\n(}(S'x'\nK\x01dtb.")
    path = tmp_path / "slots.npy"
    path.write_bytes(header() + body.getvalue())
    with pytest.raises(UnsafeFileError, match=r"numpy\.dtype"):
        read_npy_dict(path)
    good = tmp_path / "good.npy"
    np.save(good, {"features": GOOD_X}, allow_pickle=True)  # type: ignore[arg-type]
    assert read_npy_dict(good)["features"].shape == (30, 28, 28)
