"""The pickle's bounds, checked before it is loaded, and bounded descriptions of its values."""

from __future__ import annotations

import io
import pickle
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest

from fmnist.data.pickle_scan import (
    MAX_DEPTH,
    PickleRefused,
    PickleUnreadable,
    brief,
    scan_pickle,
)


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("obj", [
    {"features": np.random.default_rng(0).random((20, 28, 28)), "target": np.arange(20.0)},
    OrderedDict(id=np.arange(5, dtype=">i8"), names=np.array(["top", "trouser"]), x=np.float32(2)),
    _nested(MAX_DEPTH - 1),
    [list(range(1000))] * 900,  # 900,901 items: under the bound
])
def test_what_np_save_and_pickle_write_passes(obj: Any, protocol: int) -> None:
    scan_pickle(pickle.dumps(obj, protocol=protocol))
    if not isinstance(obj, dict):
        return
    wrapped = io.BytesIO()  # np.save: a header, then the dict in a 0-d object array
    np.save(wrapped, obj, allow_pickle=True)
    scan_pickle(wrapped.getvalue(), wrapped.getvalue().index(b"\n") + 1)


@pytest.mark.parametrize(("body", "error", "message"), [
    (b"\x80\x02})" + b"\x85" * 10**6 + b"K\x01s.", PickleRefused, "more than 32 levels"),
    (pickle.dumps(_nested(MAX_DEPTH + 1)), PickleRefused, "more than 32 levels"),
    (b"\x80\x02}r\x00\x00\x00\x10.", PickleRefused, "memo index 268435456 is past the 0"),
    (b"\x80\x02]q\x00]q\x05.", PickleRefused, "memo index 5 is past the 1"),
    (b"(I0\np99999999\n.", PickleRefused, "memo index 99999999"),
    (pickle.dumps([[[0] * 1000] * 1000] * 2), PickleRefused, "more than 1000000 items"),
    (pickle.dumps(((((0,) * 1000,) * 1000),) * 2), PickleRefused, "more than 1000000 items"),
    (b"\x80\x02" + b"N" * 10, PickleUnreadable, "truncated"),
    (b"\x80\x02X\xff\xff\xff\x7fabc.", PickleUnreadable, "truncated"),
    (b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x01N.", PickleUnreadable, "frame of"),
    (b"\x80\x02h\x03.", PickleUnreadable, "memo index 3 was never set"),
    (b"\x80\x02e.", PickleUnreadable, "needs a mark"),
    (b"\x80\x02\xff.", PickleUnreadable, "not a pickle opcode"),
    (b"\x80\x02t.", PickleUnreadable, "needs a mark"),
    (b"\x80\x02a.", PickleUnreadable, "more values than the stack holds"),
])
def test_a_pickle_out_of_bounds_is_refused_without_being_built(body: bytes, error: type,
                                                              message: str) -> None:
    start = time.perf_counter()
    with pytest.raises(error, match=message):
        scan_pickle(body)
    assert time.perf_counter() - start < 5


def test_too_many_opcodes_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import fmnist.data.pickle_scan as scan

    monkeypatch.setattr(scan, "MAX_OPCODES", 100)
    with pytest.raises(PickleRefused, match="more than 100 opcodes"):
        scan_pickle(b"\x80\x02" + b"N0" * 60 + b"N.")


_BOMB = [[[0] * 1000] * 1000] * 1000  # a repr of 3 GB, never built


@pytest.mark.parametrize(("value", "limit", "expected"), [
    ("V8", 80, "'V8'"),
    ([("a", "O")], 80, "[('a', 'O')]"),
    ({"k": (1, 2.5, None, True)}, 80, "{'k': (1, 2.5, None, True)}"),
    (frozenset(), 80, "{}"),
    (b"x" * 10, 4, "b'xx..."),
    ("y" * 10**7, 10, "'yyyyyyyyy..."),
    (1 << 100_000, 80, "<int of 100001 bits>"),
    (_BOMB, 12, "[[[0, 0, 0, ..."),
    (_nested(10**4), 80, "[[[[<list>]]]]"),
    (object(), 80, "<object>"),
], ids=["str", "list_of_tuples", "dict", "frozenset", "bytes", "long_str", "huge_int", "repr_bomb",
        "deep", "object"])
def test_brief_is_bounded_whatever_the_value(value: Any, limit: int, expected: str) -> None:
    start = time.perf_counter()
    text = brief(value, limit)
    assert text == expected
    assert len(text) <= limit + 3 and time.perf_counter() - start < 1
