"""Hostile ``.npy`` files in the notebook's format, built the way an attacker would: pickles that
call numpy's constructors with forged arguments, memory bombs, code-running opcodes.

``HOSTILE`` maps a case name to (builder, error class name, message pattern); a builder takes a
path and writes the file. Used by tests/test_safe_npy.py, which loads each file in a
subprocess (a crash or a memory bomb cannot take pytest down).
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy._core.multiarray import _reconstruct  # type: ignore[attr-defined]

GOOD_X = np.random.default_rng(1).random((30, 28, 28))
GOOD_Y = np.repeat([1.0, 2.0, 3.0], 10)


class Call:
    """Pickles as ``fn(*args)``, then ``BUILD state`` when a state is given."""

    def __init__(self, fn: Any, args: tuple[Any, ...], state: Any = None) -> None:
        self.fn, self.args, self.state = fn, args, state

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.fn, self.args) if self.state is None else (self.fn, self.args, self.state)


def header(shape: tuple[int, ...] = (), descr: str = "|O") -> bytes:
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False,
                                             "shape": shape})
    return f.getvalue()


def npy(path: Path, obj: Any, protocol: int = 3) -> Path:
    """``obj`` pickled after an object-array header, as np.save writes a dict."""
    path.write_bytes(header() + pickle.dumps(obj, protocol=protocol))
    return path


def raw_npy(path: Path, body: bytes) -> Path:
    path.write_bytes(header() + body)
    return path


def forged_dtype(code: str = "V8", state: tuple[Any, ...] | None = None) -> Call:
    """A structured dtype with an object field whose flags say 'no objects' (zeroed through
    dtype.__setstate__): numpy then reads raw bytes as object pointers."""
    state = state or (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0)
    return Call(np.dtype, (code, False, True), state)


def array_via_reconstruct(shape: tuple[int, ...], dtype: Any, raw: Any, fortran: bool = False
                          ) -> Call:
    return Call(_reconstruct, (np.ndarray, (0,), b"b"), (1, shape, dtype, fortran, raw))


def with_target(target: Any) -> dict[str, Any]:
    return {"features": GOOD_X, "target": target}


def _write(obj_fn: Callable[[], Any], protocol: int = 3) -> Callable[[Path], Path]:
    return lambda path: npy(path, obj_fn(), protocol)


def _raw(body_fn: Callable[[], bytes]) -> Callable[[Path], Path]:
    return lambda path: raw_npy(path, body_fn())


def _repeated_raw() -> dict[str, Any]:
    shared = array_via_reconstruct((1000,), np.dtype("f8"), b"\0" * 8000)
    return {"features": GOOD_X[:3], **{f"k{i}": shared for i in range(50)}}


def _inst_system(marker: str) -> bytes:
    """Protocol-0 INST opcode: find_class('os', 'system') then call it."""
    return b"(S'touch " + marker.encode() + b"'\nios\nsystem\n."


def _truncated(path: Path) -> Path:
    np.save(path, with_target(GOOD_Y), allow_pickle=True)  # type: ignore[arg-type]
    data = path.read_bytes()
    path.write_bytes(data[:-300])
    return path


def _plain_huge(path: Path) -> Path:
    path.write_bytes(header((10**9, 28, 28), "<f8") + b"\0" * 64)
    return path


def _tiny_images(path: Path) -> Path:
    """A 1 MB prediction file of a million 1x1 images (honest bytes)."""
    np.save(path, {"features": np.zeros((10**6, 1, 1), np.uint8)}, allow_pickle=True)  # type: ignore[arg-type]
    return path


def _persistent() -> bytes:
    return b"\x80\x02P1\n."


def _build_on_global() -> bytes:
    """BUILD on an allowed global: would set attributes of numpy.ndarray itself."""
    return b"\x80\x02cnumpy\nndarray\n}S'x'\nK\x01sb."


def _out_of_band() -> bytes:
    return pickle.dumps(with_target(pickle.PickleBuffer(GOOD_Y)), protocol=5,
                        buffer_callback=lambda buffer: None)


def _deep_key(depth: int) -> bytes:
    """A dict whose key is a tuple nested ``depth`` deep (one byte a level): hashing it
    overflowed the C stack."""
    return b"\x80\x02}" + b")" + b"\x85" * depth + b"K\x01s."


def _memo_index(index: int) -> bytes:
    """LONG_BINPUT with a huge index: the unpickler grows its memo table to fit it."""
    return b"\x80\x02}r" + index.to_bytes(4, "little") + b"."


def _bomb() -> list[Any]:
    """A few KB of pickle (memo references) whose repr would be 3 GB."""
    inner = [0] * 1000
    middle = [inner] * 1000
    return [middle] * 1000


def _tuple_bomb() -> tuple[Any, ...]:
    inner = (0,) * 1000
    middle = (inner,) * 1000
    return (middle,) * 1000


def _nested_header(path: Path) -> Path:
    """A header whose shape is 5000 nested parentheses (numpy's parser raises)."""
    text = "{'descr': '|O', 'fortran_order': False, 'shape': " + "(" * 5000 + ")" * 5000 + ", }"
    text += " " * (-(len(text) + 11) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode())
    return path


#: name -> (builder, error class, message pattern)
HOSTILE: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    # the attacks
    "forged_object_pointer_ndarray": (
        _write(lambda: with_target(Call(np.ndarray, ((30,), forged_dtype(), b"A" * 240)))),
        "UnsafeFileError", "V8"),
    "forged_object_pointer_reconstruct": (
        _write(lambda: with_target(array_via_reconstruct((30,), forged_dtype(), b"A" * 240))),
        "UnsafeFileError", "V8"),
    "forged_object_field_in_f8_state": (
        _write(lambda: with_target(array_via_reconstruct(
            (30,), forged_dtype("f8"), b"A" * 240))),
        "UnsafeFileError", "structured and sub-array dtypes are refused"),
    "zero_strides_1e6_images": (
        _write(lambda: {"features": Call(np.ndarray, ((10**6, 28, 28), np.dtype("u1"),
                                                      b"\x01" * 784, 0, (0, 28, 1)))}),
        "UnsafeFileError", "numpy.ndarray may not be called"),
    "declared_1e7_images_over_784_bytes": (
        _write(lambda: with_target(array_via_reconstruct((10**7, 28, 28), np.dtype("u1"),
                                                         b"\0" * 784))),
        "UnsafeFileError", r"needs 7840000000 bytes, its data holds 784"),
    "million_1x1_images": (_tiny_images, "DataError", "at least 8x8"),
    "zero_strides_1e7_images": (
        _write(lambda: {"features": Call(np.ndarray, ((10**7, 28, 28), np.dtype("u1"),
                                                      b"\x01" * 784, 0, (0, 28, 1)))}),
        "UnsafeFileError", "numpy.ndarray may not be called"),
    # code execution
    "reduce_os_system": (
        _write(lambda: with_target(Call(os.system, ("touch MARKER",)))),
        "UnsafeFileError", r"(posix|os)\.system"),
    "inst_opcode_os_system": (_raw(lambda: _inst_system("MARKER")), "UnsafeFileError",
                              r"os\.system"),
    "builtins_eval_protocol4": (
        _write(lambda: with_target(Call(eval, ("__import__('os').system('touch MARKER')",))),
               protocol=4),
        "UnsafeFileError", r"builtins\.eval"),
    "persistent_id": (_raw(_persistent), "UnsafeFileError", "persistent ids"),
    # nested REDUCE on allowed globals with bad arguments
    "object_scalar": (
        _write(lambda: with_target(Call(np._core.multiarray.scalar,  # type: ignore[attr-defined]
                                        (np.dtype("O"), b"\0" * 8)))),
        "UnsafeFileError", "only numeric scalars"),
    "object_array_in_dict": (
        _write(lambda: with_target(np.array([1, "x", None], dtype=object))),
        "UnsafeFileError", "object arrays are refused"),
    "dtype_from_list": (
        _write(lambda: with_target(array_via_reconstruct(
            (1,), Call(np.dtype, ([("a", "O")], False, True)), b"\0" * 8))),
        "UnsafeFileError", r"dtype \[\('a', 'O'\)\]"),
    "void_dtype": (
        _write(lambda: with_target(array_via_reconstruct(
            (30,), Call(np.dtype, ("V8", False, True)), GOOD_Y.tobytes()))),
        "UnsafeFileError", "'V8' is not a plain"),
    "datetime_dtype": (
        _write(lambda: with_target(GOOD_Y.astype("M8[s]"))), "UnsafeFileError", "M8"),
    "bad_byte_order": (
        _write(lambda: with_target(array_via_reconstruct(
            (30,), Call(np.dtype, ("f8", False, True), (3, "x", None, None, None, -1, -1, 0)),
            GOOD_Y.tobytes()))),
        "UnsafeFileError", "byte order 'x'"),
    "reconstruct_of_dtype_class": (
        _write(lambda: with_target(Call(_reconstruct, (np.dtype, (0,), b"b")))),
        "UnsafeFileError", "not numpy.ndarray"),
    "frombuffer_short_data": (
        _write(lambda: with_target(Call(np._core.numeric._frombuffer,  # type: ignore[attr-defined]
                                        (b"\0" * 8, np.dtype("f8"), (10**9,), "C")))),
        "UnsafeFileError", "needs 8000000000 bytes"),
    "negative_shape": (
        _write(lambda: with_target(array_via_reconstruct((-1, 28, 28), np.dtype("f8"), b""))),
        "UnsafeFileError", "sizes >= 0"),
    "forty_dimensions": (
        _write(lambda: with_target(array_via_reconstruct((1,) * 40, np.dtype("f8"), b"\0" * 8))),
        "UnsafeFileError", "at most 8"),
    "list_as_array_data": (
        _write(lambda: with_target(array_via_reconstruct((2,), np.dtype("f8"), [1.0, 2.0]))),
        "UnsafeFileError", "not raw bytes"),
    "build_on_allowed_global": (_raw(_build_on_global), "UnsafeFileError",
                                "sets the state of numpy.ndarray"),
    "repeated_raw_data_memo": (_write(_repeated_raw), "UnsafeFileError",
                               "more bytes than the file holds"),
    "key_not_a_string": (_write(lambda: {1: GOOD_X}), "DataError", "keys must be strings"),
    "nested_list_value": (_write(lambda: with_target([GOOD_Y])), "UnsafeFileError",
                          "holds a list"),
    # bounds on the pickle's shape (issue 22): nesting, memo indices, repeated references
    "deep_key_1e6": (_raw(lambda: _deep_key(10**6)), "UnsafeFileError", "more than 32 levels"),
    "deep_key_1e5": (_raw(lambda: _deep_key(10**5)), "UnsafeFileError", "more than 32 levels"),
    "million_opcodes": (_raw(lambda: b"\x80\x02" + b"N0" * 10**6 + b"}."), "UnsafeFileError",
                        "more than 100000 opcodes"),
    "memo_index_2_28": (_raw(lambda: _memo_index(1 << 28)), "UnsafeFileError",
                        "memo index 268435456 is past"),
    "repr_bomb_dtype_code": (
        _write(lambda: with_target(array_via_reconstruct(
            (30,), Call(np.dtype, (_bomb(), False, True)), b""))),
        "UnsafeFileError", "more than 1000000 items"),
    "repr_bomb_shape": (
        _write(lambda: with_target(array_via_reconstruct(_bomb(), np.dtype("f8"), b""))),  # type: ignore[arg-type]
        "UnsafeFileError", "more than 1000000 items"),
    "repr_bomb_array_state": (
        _write(lambda: with_target(Call(_reconstruct, (np.ndarray, (0,), b"b"), _bomb()))),
        "UnsafeFileError", "more than 1000000 items"),
    "repr_bomb_order_flag": (
        _write(lambda: with_target(Call(np._core.numeric._frombuffer,  # type: ignore[attr-defined]
                                        (b"", np.dtype("f8"), (0,), _bomb())))),
        "UnsafeFileError", "more than 1000000 items"),
    "repr_bomb_key": (_write(lambda: {_tuple_bomb(): GOOD_Y}), "UnsafeFileError",
                      "more than 1000000 items"),
    # numpy's own refusals, as DataErrors naming the file
    "s0_dtype": (
        _write(lambda: with_target(array_via_reconstruct(
            (3,), Call(np.dtype, ("S0", False, True)), b""))),
        "UnsafeFileError", "dtype S0 has size 0"),
    "u0_dtype": (
        _write(lambda: with_target(array_via_reconstruct(
            (3,), Call(np.dtype, ("<U0", False, True)), b""))),
        "UnsafeFileError", "dtype <U0 has size 0"),
    "zero_dim_declaring_2_70": (
        _write(lambda: with_target(array_via_reconstruct((0, 2**70), np.dtype("f8"), b""))),
        "UnsafeFileError", "more than 1099511627776 elements"),
    "zero_dim_declaring_2_35_squared": (
        _write(lambda: with_target(array_via_reconstruct((0, 2**35, 2**35), np.dtype("u1"), b""))),
        "UnsafeFileError", "more than 1099511627776 elements"),
    "header_nested_parentheses": (_nested_header, "DataError", "not a .npy file"),
    # broken files
    "truncated": (_truncated, "DataError", "unreadable"),
    "plain_array_declaring_1e9_images": (_plain_huge, "DataError", "plain float64 array"),
    "not_npy": (lambda p: (p.write_bytes(b"hello world" * 10), p)[1], "DataError",
                "not a .npy file"),
    "out_of_band_buffer": (_raw(_out_of_band), "DataError", "unreadable"),
}
