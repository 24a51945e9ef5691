"""Stand-ins for the few globals ``np.save``'s pickle names (``numpy.dtype``, ``_reconstruct``,
``_frombuffer``, ``scalar``, ``ndarray``, ``_codecs.encode``, ``OrderedDict``): each records its
arguments and refuses anything but a plain array, so no numpy constructor is handed what the file
chose. :class:`Array` builds the array itself, only from raw bytes, once every rule holds (see
:mod:`fmnist.data.safe_npy`)."""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from fmnist.data.pickle_scan import brief

__all__ = ["GLOBALS", "MAX_ELEMENTS", "MAX_NDIM", "Array", "Refused"]

#: most dimensions an array in the file may have
MAX_NDIM = 8
#: most elements an array's shape may declare, counting a zero-size dimension as one
MAX_ELEMENTS = 2**40
_TYPE_CODE = re.compile(r"^([<>|=]?)(b1|[iu][1248]|f[248]|[US][0-9]{1,9})$")
_OBJECT_CODES = ("O8", "O4")


class Refused(Exception):
    """A rule broken inside the pickle (the reader turns it into an UnsafeFileError naming the
    file)."""


class _Dtype:
    """Stand-in for ``numpy.dtype(code, align, copy)``; ``BUILD`` may set its byte order."""

    __slots__ = ("built", "code", "order")

    def __init__(self, code: Any, *_: Any) -> None:
        if not isinstance(code, str) or not (code in _OBJECT_CODES or _TYPE_CODE.match(code)):
            raise Refused(f"dtype {brief(code)} is not a plain bool, integer, float or string type")
        if code not in _OBJECT_CODES and np.dtype(code.lstrip("<>|=")).itemsize == 0:
            raise Refused(f"dtype {code} has size 0 (string types need a length >= 1)")
        self.code, self.order, self.built = code, "", False

    def __setstate__(self, state: Any) -> None:
        if self.built:
            raise Refused("a dtype's state is set twice")
        if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
            raise Refused(f"dtype state {brief(state)} is not the state of a plain dtype")
        _, order, subarray, names, fields = state[:5]
        if subarray is not None or names is not None or fields is not None:
            raise Refused("structured and sub-array dtypes are refused (they may hold objects)")
        if order not in ("<", ">", "|", "="):
            raise Refused(f"byte order {brief(order)} is not one of <, >, |, =")
        self.order, self.built = order, True

    @property
    def is_object(self) -> bool:
        return self.code in _OBJECT_CODES

    def numpy(self) -> np.dtype[Any]:
        if self.is_object:
            raise Refused("object arrays are refused (they hold Python objects, not numbers)")
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
        raise Refused(f"shape {brief(shape)} is not a tuple of at most {MAX_NDIM} sizes >= 0")
    if any(d > MAX_ELEMENTS for d in shape) or math.prod(max(d, 1) for d in shape) > MAX_ELEMENTS:
        raise Refused(f"shape {brief(shape)} declares more than {MAX_ELEMENTS} elements (zero-size "
                       "dimensions included)")
    return shape


class Array:
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
            raise Refused("an array's state is set twice")
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not isinstance(state, tuple) or len(state) != 4:
            raise Refused(f"array state {brief(state)} is not (shape, dtype, fortran, data)")
        shape, dtype, fortran, raw = state
        self._set(_shape(shape), dtype, fortran, raw)

    def _set(self, shape: tuple[int, ...], dtype: Any, fortran: Any, raw: Any) -> None:
        if not isinstance(dtype, _Dtype):
            raise Refused(f"an array's dtype is a {type(dtype).__name__}, not a dtype")
        if not isinstance(fortran, bool):
            raise Refused(f"an array's order flag is {brief(fortran, 40)}, not a bool")
        self.shape, self.dtype, self.fortran, self.built = shape, dtype, fortran, True
        if dtype.is_object:
            if shape != () or not isinstance(raw, list) or len(raw) != 1:
                raise Refused("object arrays are refused, but for the 0-d one np.save wraps "
                               "a dict in")
            self.items = raw
            return
        if not isinstance(raw, bytes | bytearray):
            raise Refused(f"an array's data is a {type(raw).__name__}, not raw bytes")
        expected = math.prod(shape) * dtype.numpy().itemsize
        if len(raw) != expected:
            raise Refused(f"an array of shape {shape} and dtype {dtype.numpy()} needs {expected} "
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
            raise Refused(f"{self._name} may not be called, only named")
        return self._fn(*args)

    def __setattr__(self, name: str, value: Any) -> None:
        raise Refused(f"the pickle sets attribute {brief(name)} of {self._name}")

    def __setstate__(self, state: Any) -> None:
        raise Refused(f"the pickle sets the state of {self._name}")


_NDARRAY = _Global("numpy.ndarray", None)


def _reconstruct(cls: Any, shape: Any, code: Any) -> Array:
    if cls is not _NDARRAY:
        raise Refused(f"_reconstruct is asked for a {type(cls).__name__}, not numpy.ndarray")
    return Array()


def _frombuffer(raw: Any, dtype: Any, shape: Any, order: Any) -> Array:
    if order not in ("C", "F"):
        raise Refused(f"array order {brief(order, 40)} is not C or F")
    array = Array()
    array._set(_shape(shape), dtype, order == "F", raw)
    if array.items is not None:
        raise Refused("object arrays are refused")
    return array


def _scalar(dtype: Any, raw: Any) -> Any:
    if not isinstance(dtype, _Dtype) or dtype.is_object or not isinstance(raw, bytes):
        raise Refused("only numeric scalars given as raw bytes are accepted")
    array = Array()
    array._set((), dtype, False, raw)
    return array.numpy()[()]


def _latin1(text: Any, encoding: Any = "latin1") -> bytes:
    """``_codecs.encode``, which protocol 2 pickles use for bytes, for latin-1 text only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise Refused("_codecs.encode is accepted only for latin-1 text")
    return text.encode("latin1")


def _ordered_dict(*args: Any) -> OrderedDict[Any, Any]:
    if args:
        raise Refused("OrderedDict is built with arguments; np.save writes none")
    return OrderedDict()


GLOBALS: dict[tuple[str, str], _Global] = {}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    GLOBALS[(_module, "_reconstruct")] = _Global("numpy _reconstruct", _reconstruct)
    GLOBALS[(_module, "scalar")] = _Global("numpy scalar", _scalar)
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    GLOBALS[(_module, "_frombuffer")] = _Global("numpy _frombuffer", _frombuffer)
GLOBALS[("numpy", "ndarray")] = _NDARRAY
GLOBALS[("_codecs", "encode")] = _Global("_codecs.encode", _latin1)
GLOBALS[("numpy", "dtype")] = _Global("numpy.dtype", _Dtype)
GLOBALS[("collections", "OrderedDict")] = _Global("collections.OrderedDict", _ordered_dict)
