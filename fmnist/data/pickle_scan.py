"""Bounds on a pickle, checked before it is loaded, and on what is said about its values.

Python's unpickler trusts the stream's shape: a dict key that is a tuple nested 10^6 deep is
built without complaint, then hashing it overflows the C stack (a crash, not an exception);
a ``LONG_BINPUT`` memo index of 2^28 makes the unpickler grow its memo table to gigabytes;
a list holding a million references to a list of a million references is a few bytes of
pickle whose ``repr`` does not fit in memory. So :func:`scan_pickle` walks the opcodes once,
without building anything, and refuses a stream whose

* containers nest deeper than :data:`MAX_DEPTH`, or any of whose objects expands (memo
  references counted each time) to more than :data:`MAX_ITEMS` items;
* memo indices jump past the number of objects memoised so far (a pickler numbers them
  0, 1, 2, ...);
* opcodes number more than :data:`MAX_OPCODES`, or whose lengths and frames point past its end.

:func:`brief` describes any value in a bounded number of characters, without calling ``repr``
on anything that may be large.
"""

from __future__ import annotations

import pickletools
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_ITEMS", "MAX_OPCODES", "PickleRefused", "PickleUnreadable", "brief",
           "scan_pickle"]

#: deepest container nesting accepted (np.save's dict of arrays nests about 8 deep)
MAX_DEPTH = 32
#: most items one object may expand to, memo references counted each time they are used
MAX_ITEMS = 1_000_000
#: most opcodes in one pickle (np.save's dict of arrays writes tens; the scan takes a few µs each)
MAX_OPCODES = 100_000

_OPS = {op.code.encode("latin-1")[0]: op for op in pickletools.opcodes}
_MUTATORS = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"}
_FRESH = {"EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"}  # containers filled by later opcodes
_LENGTH_BYTES = {pickletools.TAKEN_FROM_ARGUMENT1: (1, False), pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
                 pickletools.TAKEN_FROM_ARGUMENT4U: (4, False),
                 pickletools.TAKEN_FROM_ARGUMENT8U: (8, False)}


class PickleRefused(Exception):
    """The pickle breaks one of the bounds (the reader names the file)."""


class PickleUnreadable(Exception):
    """The pickle is truncated or malformed (the reader names the file)."""


class _Cell:
    """What the scan knows of one object on the stack: its nesting depth and expanded size."""

    __slots__ = ("depth", "size")

    def __init__(self, depth: int, size: int) -> None:
        self.depth, self.size = depth, size


_LEAF = _Cell(0, 1)  # shared by every scalar: never mutated


def _combine(cells: list[_Cell]) -> _Cell:
    depth = 1 + max((c.depth for c in cells), default=0)
    size = min(1 + sum(c.size for c in cells), MAX_ITEMS + 1)
    return _Cell(depth, size)


def _check(cell: _Cell) -> None:
    if cell.depth > MAX_DEPTH:
        raise PickleRefused(f"its pickle nests containers more than {MAX_DEPTH} levels deep")
    if cell.size > MAX_ITEMS:
        raise PickleRefused(f"its pickle holds an object of more than {MAX_ITEMS} items (repeated "
                            "references)")


class _Scan:
    def __init__(self, data: bytes, pos: int) -> None:
        self.raw, self.data, self.pos = data, memoryview(data), pos
        self.stack: list[_Cell] = []
        self.marks: list[int] = []
        self.memo: dict[int, _Cell] = {}

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise PickleUnreadable(f"it is truncated (an opcode at byte {self.pos} needs {n} bytes)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def line(self) -> bytes:
        end = self.raw.find(b"\n", self.pos)
        if end < 0:
            raise PickleUnreadable(f"a text argument at byte {self.pos} has no end of line")
        return bytes(self.take(end + 1 - self.pos)[:-1])

    def argument(self, op: pickletools.OpcodeInfo) -> int | None:
        """Skip the opcode's argument; return it when it is an integer (memo index, frame)."""
        arg = op.arg
        if arg is None:
            return None
        if arg.n >= 0:
            raw = bytes(self.take(arg.n))
            return int.from_bytes(raw, "little", signed=arg.name == "int4") if arg.n else None
        if arg.n == pickletools.UP_TO_NEWLINE:
            text = self.line()
            if arg.name == "stringnl_noescape_pair":
                self.line()
            elif arg.name == "decimalnl_short" and op.name in ("GET", "PUT"):
                if not text.isdigit() or len(text) > 12:
                    raise PickleUnreadable(f"memo index {text[:20]!r} is not a number")
                return int(text)
            return None
        size, signed = _LENGTH_BYTES[arg.n]
        length = int.from_bytes(self.take(size), "little", signed=signed)
        self.take(length)
        return None

    def pop_to_mark(self) -> list[_Cell]:
        if not self.marks:
            raise PickleUnreadable("an opcode needs a mark and there is none")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def pop(self, n: int) -> list[_Cell]:
        if n > len(self.stack) - (self.marks[-1] if self.marks else 0):
            raise PickleUnreadable("an opcode takes more values than the stack holds")
        items = self.stack[len(self.stack) - n:] if n else []
        del self.stack[len(self.stack) - n:]
        return items

    def step(self, op: pickletools.OpcodeInfo, arg: int | None) -> bool:
        """Apply ``op``'s stack effect; False at STOP."""
        special = _SPECIAL.get(op.name)
        if special is not None:
            return special(self, op.name, arg)
        self.apply(op)
        return True

    def mark(self, name: str, arg: int | None) -> bool:
        self.marks.append(len(self.stack))
        return True

    def put(self, name: str, arg: int | None) -> bool:
        index = len(self.memo) if arg is None else arg
        if index > len(self.memo):
            raise PickleRefused(f"memo index {index} is past the {len(self.memo)} objects "
                                "memoised so far")
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise PickleUnreadable("a memo opcode with nothing to memoise")
        self.memo[index] = self.stack[-1]
        return True

    def get(self, name: str, arg: int | None) -> bool:
        if arg not in self.memo:
            raise PickleUnreadable(f"memo index {arg} was never set")
        self.stack.append(self.memo[arg])  # type: ignore[index]
        return True

    def frame(self, name: str, arg: int | None) -> bool:
        if name == "FRAME" and arg is not None and arg > len(self.data) - self.pos:
            raise PickleUnreadable(f"a frame of {arg} bytes runs past the end")
        return True

    def stop(self, name: str, arg: int | None) -> bool:
        self.pop(1)
        return False

    def dup(self, name: str, arg: int | None) -> bool:
        self.stack.extend(self.pop(1) * 2)
        return True

    def apply(self, op: pickletools.OpcodeInfo) -> None:
        """Any other opcode: pop its inputs, push what it builds (or the container it fills)."""
        before = [s.name for s in op.stack_before]
        if "mark" in before:
            inputs = self.pop_to_mark()
            inputs = self.pop(before.index("mark")) + inputs
        else:
            inputs = self.pop(len(before))
        if not op.stack_after:
            return
        if op.name in _MUTATORS:
            self.stack.append(_grow(inputs[0], inputs[1:]))
        elif op.name == "READONLY_BUFFER":
            self.stack.extend(inputs)
        elif inputs:
            cell = _combine(inputs)
            _check(cell)
            self.stack.append(cell)
        else:
            self.stack.append(_Cell(1, 1) if op.name in _FRESH else _LEAF)


def _grow(target: _Cell, values: list[_Cell]) -> _Cell:
    """``target`` after ``APPEND``, ``SETITEMS``, ... added ``values`` to it."""
    if target is not _LEAF:
        grown = _combine(values)
        target.depth = max(target.depth, grown.depth)
        target.size = min(target.size + grown.size - 1, MAX_ITEMS + 1)
        _check(target)
    return target


#: the opcodes with a stack effect of their own (marks, the memo, frames, STOP, DUP)
_SPECIAL: dict[str, Callable[[_Scan, str, int | None], bool]] = {
    "MARK": _Scan.mark,
    **dict.fromkeys(("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"), _Scan.put),
    **dict.fromkeys(("GET", "BINGET", "LONG_BINGET"), _Scan.get),
    **dict.fromkeys(("PROTO", "FRAME"), _Scan.frame),
    "STOP": _Scan.stop,
    "DUP": _Scan.dup,
}


def scan_pickle(data: bytes, start: int = 0) -> None:
    """Walk the pickle in ``data[start:]`` without building it: :class:`PickleRefused` when it
    breaks a bound (see the module docstring), :class:`PickleUnreadable` when it is malformed.

    >>> import pickle
    >>> scan_pickle(pickle.dumps({"features": [1.0, 2.0]}))
    >>> scan_pickle(pickle.dumps(((((),),),)), 0)
    """
    scan = _Scan(data, start)
    for count in range(MAX_OPCODES + 1):
        if count == MAX_OPCODES:
            raise PickleRefused(f"its pickle has more than {MAX_OPCODES} opcodes")
        code = scan.take(1)[0]
        op = _OPS.get(code)
        if op is None:
            raise PickleUnreadable(f"byte {scan.pos - 1} is not a pickle opcode ({code:#04x})")
        if not scan.step(op, scan.argument(op)):
            return


class _Brief:
    """A bounded description being written: what is written so far and the room left."""

    def __init__(self, limit: int) -> None:
        self.limit, self.room = limit, limit
        self.out: list[str] = []

    def put(self, text: str) -> None:
        self.out.append(text[:max(self.room, 0)])
        self.room -= len(text)

    def walk(self, item: Any, depth: int) -> None:
        if self.room <= 0:
            return
        if isinstance(item, tuple | list | set | frozenset | dict):
            self.container(item, depth)
        else:
            self.put(self.scalar(item))

    def container(self, item: tuple[Any, ...] | list[Any] | set[Any] | frozenset[Any] | dict[Any, Any],
                  depth: int) -> None:
        if depth >= 4:
            self.put(f"<{type(item).__name__}>")
            return
        brackets = {list: "[]", tuple: "()"}.get(type(item), "{}")
        self.put(brackets[0])
        entries = item.items() if isinstance(item, dict) else item
        for i, entry in enumerate(entries):
            if self.room <= 0:
                break
            if i:
                self.put(", ")
            if isinstance(item, dict):
                self.walk(entry[0], depth + 1)
                self.put(": ")
                self.walk(entry[1], depth + 1)
            else:
                self.walk(entry, depth + 1)
        self.put(brackets[1])

    def scalar(self, item: Any) -> str:
        if isinstance(item, int) and item.bit_length() > 64:
            return f"<int of {item.bit_length()} bits>"
        if isinstance(item, str | bytes | bytearray):
            return repr(item[:self.limit]) + ("..." if len(item) > self.limit else "")
        if isinstance(item, int | float | bool | type(None)):
            return repr(item)
        return f"<{type(item).__name__}>"


def brief(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters, built without ever making the whole
    repr (containers are walked a few items and levels deep; huge integers are described).

    >>> brief([[0] * 10**6] * 10**6, 20)
    '[[0, 0, 0, 0, 0, 0, ...'
    """
    text = _Brief(limit)
    text.walk(value, 0)
    written = "".join(text.out)
    return written if text.room >= 0 else written + "..."
