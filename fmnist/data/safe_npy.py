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
import math
import pickle
import re
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.data.pickle_scan import PickleRefused, PickleUnreadable, brief, scan_pickle
from fmnist.errors import DataError, UnsafeFileError

__all__ = ["MAX_ELEMENTS", "MAX_NDIM", "read_npy_dict"]

#: most dimensions an array in the file may have
MAX_NDIM = 8
#: most elements an array's shape may declare, counting a zero-size dimension as one
MAX_ELEMENTS = 2**40
_TYPE_CODE = re.compile(r"^([<>|=]?)(b1|[iu][1248]|f[248]|[US][0-9]{1,9})$")
_OBJECT_CODES = ("O8", "O4")
_PLAIN = (str, int, float, bool, type(None), np.bool_, np.integer, np.floating)


class _Refused(Exception):
    """A rule broken inside the pickle (turned into UnsafeFileError with the path)."""


class _Dtype:
    """Stand-in for ``numpy.dtype(code, align, copy)``; ``BUILD`` may set its byte order."""

    __slots__ = ("built", "code", "order")

    def __init__(self, code: Any, *_: Any) -> None:
        if not isinstance(code, str) or not (code in _OBJECT_CODES or _TYPE_CODE.match(code)):
            raise _Refused(f"dtype {brief(code)} is not a plain bool, integer, float or string type")
        if code not in _OBJECT_CODES and np.dtype(code.lstrip("<>|=")).itemsize == 0:
            raise _Refused(f"dtype {code} has size 0 (string types need a length >= 1)")
        self.code, self.order, self.built = code, "", False

    def __setstate__(self, state: Any) -> None:
        if self.built:
            raise _Refused("a dtype's state is set twice")
        if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
            raise _Refused(f"dtype state {brief(state)} is not the state of a plain dtype")
        _, order, subarray, names, fields = state[:5]
        if subarray is not None or names is not None or fields is not None:
            raise _Refused("structured and sub-array dtypes are refused (they may hold objects)")
        if order not in ("<", ">", "|", "="):
            raise _Refused(f"byte order {brief(order)} is not one of <, >, |, =")
        self.order, self.built = order, True

    @property
    def is_object(self) -> bool:
        return self.code in _OBJECT_CODES

    def numpy(self) -> np.dtype[Any]:
        if self.is_object:
            raise _Refused("object arrays are refused (they hold Python objects, not numbers)")
        match = _TYPE_CODE.match(self.code)
        assert match is not None
        prefix, kind = match.groups()
        order = self.order if self.order in ("<", ">") else prefix
        dtype = np.dtype(kind)
        if order in ("<", ">") and dtype.itemsize > 1 and kind[0] != "S":
            dtype = dtype.newbyteorder("<" if order == "<" else ">")
        return dtype


def _shape(shape: Any) -> tuple[int, ...]:
    if (not isinstance(shape, tuple) or len(shape) > MAX_NDIM
            or not all(type(d) is int and d >= 0 for d in shape)):
        raise _Refused(f"shape {brief(shape)} is not a tuple of at most {MAX_NDIM} sizes >= 0")
    if any(d > MAX_ELEMENTS for d in shape) or math.prod(max(d, 1) for d in shape) > MAX_ELEMENTS:
        raise _Refused(f"shape {brief(shape)} declares more than {MAX_ELEMENTS} elements (zero-size "
                       "dimensions included)")
    return shape


class _Array:
    """Stand-in for an ndarray: ``_reconstruct`` makes it, ``BUILD`` gives it its state."""

    __slots__ = ("built", "dtype", "fortran", "items", "raw", "shape")

    def __init__(self) -> None:
        self.shape: tuple[int, ...] = ()
        self.dtype: _Dtype | None = None
        self.fortran = False
        self.raw: bytes | bytearray = b""
        self.items: list[Any] | None = None
        self.built = False

    def __setstate__(self, state: Any) -> None:
        if self.built:
            raise _Refused("an array's state is set twice")
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not isinstance(state, tuple) or len(state) != 4:
            raise _Refused(f"array state {brief(state)} is not (shape, dtype, fortran, data)")
        shape, dtype, fortran, raw = state
        self._set(_shape(shape), dtype, fortran, raw)

    def _set(self, shape: tuple[int, ...], dtype: Any, fortran: Any, raw: Any) -> None:
        if not isinstance(dtype, _Dtype):
            raise _Refused(f"an array's dtype is a {type(dtype).__name__}, not a dtype")
        if not isinstance(fortran, bool):
            raise _Refused(f"an array's order flag is {brief(fortran, 40)}, not a bool")
        self.shape, self.dtype, self.fortran, self.built = shape, dtype, fortran, True
        if dtype.is_object:
            if shape != () or not isinstance(raw, list) or len(raw) != 1:
                raise _Refused("object arrays are refused, but for the 0-d one np.save wraps "
                               "a dict in")
            self.items = raw
            return
        if not isinstance(raw, bytes | bytearray):
            raise _Refused(f"an array's data is a {type(raw).__name__}, not raw bytes")
        expected = math.prod(shape) * dtype.numpy().itemsize
        if len(raw) != expected:
            raise _Refused(f"an array of shape {shape} and dtype {dtype.numpy()} needs {expected} "
                           f"bytes, its data holds {len(raw)}")
        self.raw = raw

    def numpy(self) -> np.ndarray:
        assert self.dtype is not None
        dtype = self.dtype.numpy()
        view = np.frombuffer(self.raw, dtype=dtype).reshape(self.shape,
                                                            order="F" if self.fortran else "C")
        return np.array(view, dtype=dtype.newbyteorder("="), order="C")


class _Global:
    """What ``find_class`` hands the pickle: a callable that cannot be changed by ``BUILD``."""

    __slots__ = ("_fn", "_name")
    _fn: Callable[..., Any] | None
    _name: str

    def __init__(self, name: str, fn: Callable[..., Any] | None) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_fn", fn)

    def __call__(self, *args: Any) -> Any:
        if self._fn is None:
            raise _Refused(f"{self._name} may not be called, only named")
        return self._fn(*args)

    def __setattr__(self, name: str, value: Any) -> None:
        raise _Refused(f"the pickle sets attribute {brief(name)} of {self._name}")

    def __setstate__(self, state: Any) -> None:
        raise _Refused(f"the pickle sets the state of {self._name}")


_NDARRAY = _Global("numpy.ndarray", None)


def _reconstruct(cls: Any, shape: Any, code: Any) -> _Array:
    if cls is not _NDARRAY:
        raise _Refused(f"_reconstruct is asked for a {type(cls).__name__}, not numpy.ndarray")
    return _Array()


def _frombuffer(raw: Any, dtype: Any, shape: Any, order: Any) -> _Array:
    if order not in ("C", "F"):
        raise _Refused(f"array order {brief(order, 40)} is not C or F")
    array = _Array()
    array._set(_shape(shape), dtype, order == "F", raw)
    if array.items is not None:
        raise _Refused("object arrays are refused")
    return array


def _scalar(dtype: Any, raw: Any) -> Any:
    if not isinstance(dtype, _Dtype) or dtype.is_object or not isinstance(raw, bytes):
        raise _Refused("only numeric scalars given as raw bytes are accepted")
    array = _Array()
    array._set((), dtype, False, raw)
    return array.numpy()[()]


def _latin1(text: Any, encoding: Any = "latin1") -> bytes:
    """``_codecs.encode``, which protocol 2 pickles use for bytes, for latin-1 text only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused("_codecs.encode is accepted only for latin-1 text")
    return text.encode("latin1")


def _ordered_dict(*args: Any) -> OrderedDict[Any, Any]:
    if args:
        raise _Refused("OrderedDict is built with arguments; np.save writes none")
    return OrderedDict()


_GLOBALS: dict[tuple[str, str], _Global] = {}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _GLOBALS[(_module, "_reconstruct")] = _Global("numpy _reconstruct", _reconstruct)
    _GLOBALS[(_module, "scalar")] = _Global("numpy scalar", _scalar)
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    _GLOBALS[(_module, "_frombuffer")] = _Global("numpy _frombuffer", _frombuffer)
_GLOBALS[("numpy", "ndarray")] = _NDARRAY
_GLOBALS[("_codecs", "encode")] = _Global("_codecs.encode", _latin1)
_GLOBALS[("numpy", "dtype")] = _Global("numpy.dtype", _Dtype)
_GLOBALS[("collections", "OrderedDict")] = _Global("collections.OrderedDict", _ordered_dict)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _GLOBALS[(module, name)]
        except KeyError:
            raise _Refused(
                f"its pickle asks for {module}.{name}, which could run code; only the numpy "
                "globals np.save writes are accepted") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("persistent ids are refused")


def _value(key: str, value: Any, budget: list[int]) -> Any:
    if isinstance(value, _Array):
        if not value.built:
            raise _Refused(f"key {brief(key)} holds an array without data")
        if value.items is not None:
            raise _Refused(f"key {brief(key)} holds an object array; only numbers are allowed")
        budget[0] -= len(value.raw)
        if budget[0] < 0:
            raise _Refused("its arrays declare more bytes than the file holds (repeated data)")
        return value.numpy()
    if isinstance(value, _PLAIN):
        return value
    raise _Refused(f"key {brief(key)} holds a {type(value).__name__}; only arrays and plain "
                   "numbers or strings are allowed")


def _parse(raw: bytes, path: Path) -> dict[str, Any]:
    f = io.BytesIO(raw)
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
    try:
        scan_pickle(raw, f.tell())  # depth, size, memo and length bounds before anything is built
    except PickleRefused as exc:
        raise _Refused(str(exc)) from None
    except PickleUnreadable as exc:
        raise DataError(f"{path}: the pickle inside is unreadable: {exc}") from None
    try:
        obj = _Unpickler(f).load()
    except _Refused:
        raise
    except MemoryError as exc:
        raise DataError(f"{path}: not enough memory to read the pickle inside") from exc
    except Exception as exc:
        raise DataError(f"{path}: the pickle inside is unreadable: {type(exc).__name__}: "
                        f"{brief(str(exc), 200)}") from exc
    if isinstance(obj, _Array):
        if obj.items is None:
            raise _Refused("the pickle holds a numeric array, expected a dict of arrays")
        obj = obj.items[0]
    if not isinstance(obj, dict):
        raise DataError(f"{path} holds a {type(obj).__name__}, expected a dict of arrays")
    budget = [len(raw)]
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
    except _Refused as exc:
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
