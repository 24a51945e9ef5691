"""A restricted reader for the notebook's ``.npy`` files: a pickled dict of numeric arrays.

``np.save(path, {"features": x, "target": y})`` writes a ``.npy`` whose body is a pickle. A
pickle is a program: loaded with ``np.load(allow_pickle=True)`` it may call any function, and
even numpy's own constructors, called with forged arguments, build arrays over raw bytes that
numpy then reads as object pointers (a crash, one step from code execution) or arrays whose
strides make a few hundred bytes look like gigabytes.

So this reader never hands a numpy constructor anything the file chose. The pickle may name
only the few globals that ``np.save`` writes; each is replaced by a stand-in that records its
arguments, and the arrays are then built here, only from raw bytes, with
``np.frombuffer(raw, dtype).reshape(shape)`` where

* the dtype is a plain bool, integer, float or fixed-size string type, parsed from its type
  code (``'f8'``, ``'<i4'``, ``'U5'``) with the byte order of its state and nothing else: no
  object, structured, sub-array or void dtype, and the dtype's flags are never read;
* the raw bytes hold exactly ``prod(shape) * itemsize`` bytes (so no strides, offsets or
  broadcasts), shapes have at most 8 non-negative dimensions;
* all the arrays together hold no more bytes than the file (no memo trick may repeat them).

Before the unpickler runs, :func:`fmnist.data.pickle_scan.scan_pickle` walks the opcodes and refuses
containers nested deeper than 32 levels (a 10^6-deep dict key crashes the interpreter when
hashed), objects that expand to more than 10^6 items through repeated references, memo indices
that jump ahead (a ``LONG_BINPUT`` of 2^28 grows the memo to gigabytes) and lengths past the
end; refusal messages describe values with :func:`~fmnist.data.pickle_scan.brief`, never a full
``repr``. Shapes declare at most 2^40 elements (a zero-size dimension counted as one), and
string dtypes have a length >= 1.

The only object array allowed is the 0-d container ``np.save`` wraps the dict in. Every
refusal is an :class:`~fmnist.errors.UnsafeFileError` (the file asks for something that is not
a plain array) or a :class:`~fmnist.errors.DataError` (the file is not a readable ``.npy``;
numpy's own exceptions included), naming the file and the rule.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.data.npy_standins import GLOBALS, MAX_ELEMENTS, MAX_NDIM, Array, Refused
from fmnist.data.pickle_scan import PickleRefused, PickleUnreadable, brief, scan_pickle
from fmnist.errors import DataError, UnsafeFileError

__all__ = ["MAX_ELEMENTS", "MAX_NDIM", "read_npy_dict"]

_PLAIN = (str, int, float, bool, type(None), np.bool_, np.integer, np.floating)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return GLOBALS[(module, name)]
        except KeyError:
            raise Refused(
                f"its pickle asks for {module}.{name}, which could run code; only the numpy "
                "globals np.save writes are accepted") from None

    def persistent_load(self, pid: Any) -> Any:
        raise Refused("persistent ids are refused")


def _value(key: str, value: Any, budget: list[int]) -> Any:
    if isinstance(value, Array):
        if not value.built:
            raise Refused(f"key {brief(key)} holds an array without data")
        if value.items is not None:
            raise Refused(f"key {brief(key)} holds an object array; only numbers are allowed")
        budget[0] -= len(value.raw)
        if budget[0] < 0:
            raise Refused("its arrays declare more bytes than the file holds (repeated data)")
        return value.numpy()
    if isinstance(value, _PLAIN):
        return value
    raise Refused(f"key {brief(key)} holds a {type(value).__name__}; only arrays and plain "
                   "numbers or strings are allowed")


def _read_header(f: io.BytesIO, path: Path) -> None:
    """The ``.npy`` header: a 0-d object array (the container ``np.save`` wraps a dict in)."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except Exception as exc:  # numpy's header parser: ValueError, SyntaxError, RecursionError...
        raise DataError(f"{path} is not a .npy file: {type(exc).__name__}: {brief(str(exc), 200)}"
                        ) from exc
    if dtype != np.dtype(object) or shape != ():
        raise DataError(
            f"{path} holds a plain {dtype} array of shape {shape}; expected a pickled dict "
            "with 'features' and 'target' (or 'id'), as np.save(path, dict) writes")


def _unpickle(raw: bytes, f: io.BytesIO, path: Path) -> Any:
    """The pickle after the header, scanned for its bounds before the stand-ins build it."""
    try:
        scan_pickle(raw, f.tell())  # depth, size, memo and length bounds before anything is built
    except PickleRefused as exc:
        raise Refused(str(exc)) from None
    except PickleUnreadable as exc:
        raise DataError(f"{path}: the pickle inside is unreadable: {exc}") from None
    try:
        return _Unpickler(f).load()
    except Refused:
        raise
    except MemoryError as exc:
        raise DataError(f"{path}: not enough memory to read the pickle inside") from exc
    except Exception as exc:
        raise DataError(f"{path}: the pickle inside is unreadable: {type(exc).__name__}: "
                        f"{brief(str(exc), 200)}") from exc


def _arrays(obj: Any, size: int, path: Path) -> dict[str, Any]:
    """The dict of arrays the pickle built, each array made from its raw bytes (``size``: the
    file's bytes, the most all the arrays together may hold)."""
    if isinstance(obj, Array):
        if obj.items is None:
            raise Refused("the pickle holds a numeric array, expected a dict of arrays")
        obj = obj.items[0]
    if not isinstance(obj, dict):
        raise DataError(f"{path} holds a {type(obj).__name__}, expected a dict of arrays")
    budget = [size]
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise DataError(f"{path}: dict keys must be strings, got {brief(key)}")
        try:
            out[key] = _value(key, value, budget)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # numpy refusing
            raise DataError(f"{path}: the array under key {brief(key)} cannot be built: "
                            f"{type(exc).__name__}: {brief(str(exc), 200)}") from exc
    return out


def _parse(raw: bytes, path: Path) -> dict[str, Any]:
    f = io.BytesIO(raw)
    _read_header(f, path)
    return _arrays(_unpickle(raw, f, path), len(raw), path)


def read_npy_dict(path: str | Path) -> dict[str, Any]:
    """Read the notebook's ``.npy`` (a pickled dict of arrays) without running code and without
    letting the file choose how numpy reads memory (see the module's docstring).

    Returns a dict of C-ordered, native-endian arrays and plain values. Raises
    :class:`UnsafeFileError` for anything but plain arrays, :class:`DataError` when the file is
    missing or not a readable ``.npy``.

    >>> np.save("d.npy", {"features": np.zeros((2, 28, 28)), "target": np.ones(2)})  # doctest: +SKIP
    >>> sorted(read_npy_dict("d.npy"))  # doctest: +SKIP
    ['features', 'target']
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    try:
        raw = path.read_bytes()
        return _parse(raw, path)
    except Refused as exc:
        raise UnsafeFileError(f"{path} is refused: {exc}") from None
    except DataError:
        raise
    except MemoryError as exc:
        raise DataError(f"{path}: not enough memory to load it") from exc
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    except (ValueError, TypeError, OverflowError, RecursionError, KeyError, IndexError) as exc:
        raise DataError(f"{path}: cannot be read: {type(exc).__name__}: {brief(str(exc), 200)}"
                        ) from exc
