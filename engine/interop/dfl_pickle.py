"""A restricted unpickler for DeepFaceLab's files: data only, never code.

DeepFaceLab stores aligned-face metadata, model options and network weights as Python pickles.
Unpickling calls whatever the stream names, so an untrusted file could run anything. Here the
stream may only name the globals numpy's own pickles use (for arrays, dtypes and numpy scalars,
protocols 2-5, numpy 1.x and 2.x module paths) and the few builtins that plain containers need;
every other global is refused **by name**, before anything is imported or called. The admitted
callables are wrapped so their arguments are checked too (no object arrays, no allocation from a
number: `bytearray(10**12)` is refused), and the result is walked afterwards: only dict, list,
tuple, set, frozenset, str, bytes, bytearray, bool, int, float, complex, None, numpy scalars and
non-object numpy arrays come back. Payloads above `max_bytes` are refused before unpickling.

    >>> import pickle, numpy as np
    >>> safe_loads(pickle.dumps({"a": np.eye(2)}), "example")["a"].shape
    (2, 2)
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError

# A pickle payload larger than this is refused unread (a caller may lower or raise it).
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_MAX_DEPTH = 64  # nesting of containers in the result


class UnsafePickleError(InputError):
    """A pickle that names something other than plain data, or is too large: refused unread."""


def _check_dtype(dt: Any, where: str) -> np.dtype:
    if not isinstance(dt, np.dtype):
        raise UnsafePickleError(f"{where}: pickle passes {type(dt).__name__} where a numpy dtype "
                                "belongs; refused")
    if dt.hasobject:
        raise UnsafePickleError(f"{where}: pickle holds a numpy object array (dtype {dt}), which "
                                "can carry code; refused")
    return dt


def _allowed(where: str) -> dict[tuple[str, str], Callable[..., Any] | type]:
    """The admitted globals, each a checked wrapper (built per load so messages name the file)."""

    class NdarrayToken:
        """Stands for `numpy.ndarray` in the stream: only `_reconstruct` accepts it, so the class
        itself is never called with the stream's arguments (`ndarray(huge_shape)`)."""

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            raise UnsafePickleError(f"{where}: pickle calls numpy.ndarray directly; refused")

    def dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
        if not isinstance(spec, str) or not isinstance(align, bool) or not isinstance(copy, bool):
            raise UnsafePickleError(f"{where}: numpy dtype built from {type(spec).__name__} "
                                    f"{spec!r:.40}; refused")
        try:
            dt = np.dtype(spec, align=align, copy=copy)
        except (TypeError, ValueError):
            raise UnsafePickleError(f"{where}: numpy dtype {spec!r:.40} not understood; "
                                    "refused") from None
        return _check_dtype(dt, where)

    def reconstruct(subtype: Any, shape: Any, dtype_code: Any) -> np.ndarray:
        # numpy pickles every array as _reconstruct(ndarray, (0,), b'b') + __setstate__.
        if subtype is not NdarrayToken or dtype_code not in (b"b", "b") or not (
                isinstance(shape, tuple) and all(isinstance(s, int) and 0 <= s <= 1
                                                 for s in shape)):
            raise UnsafePickleError(f"{where}: numpy array reconstructed from unexpected "
                                    f"arguments ({type(subtype).__name__}, {shape!r:.40}, "
                                    f"{dtype_code!r:.20}); refused")
        return np.ndarray.__new__(np.ndarray, shape, np.dtype("b"))

    def scalar(dt: Any, data: Any = None) -> Any:
        _check_dtype(dt, where)
        if not isinstance(data, bytes) or len(data) != dt.itemsize:
            raise UnsafePickleError(f"{where}: numpy scalar of {dt} from {type(data).__name__}; "
                                    "refused")
        return np.frombuffer(data, dt)[0].copy()

    def frombuffer(buf: Any, dt: Any, shape: Any, order: Any) -> np.ndarray:
        _check_dtype(dt, where)
        if isinstance(buf, pickle.PickleBuffer):
            buf = bytes(buf.raw())
        if not isinstance(buf, (bytes, bytearray)) or order not in ("C", "F") or not (
                isinstance(shape, tuple) and all(isinstance(s, int) and s >= 0 for s in shape)):
            raise UnsafePickleError(f"{where}: numpy array from unexpected buffer arguments; "
                                    "refused")
        if int(np.prod(shape, dtype=np.int64)) * dt.itemsize != len(buf):
            raise UnsafePickleError(f"{where}: numpy array of shape {shape} and {dt} does not "
                                    f"match its {len(buf)} data bytes; refused")
        return np.frombuffer(bytes(buf), dt).reshape(shape, order=order).copy()

    def codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
        # Protocol 2 spells bytes as _codecs.encode(str, 'latin1').
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise UnsafePickleError(f"{where}: _codecs.encode with {encoding!r:.20}; refused")
        return text.encode("latin1")

    def make_bytearray(data: Any = b"", encoding: Any = None) -> bytearray:
        if isinstance(data, (bytes, bytearray)) and encoding is None:
            return bytearray(data)
        if isinstance(data, str) and encoding in ("latin1", "latin-1"):
            return bytearray(data.encode("latin1"))
        raise UnsafePickleError(f"{where}: bytearray from {type(data).__name__}; refused (only "
                                "bytes are data)")

    def make_bytes(data: Any = b"") -> bytes:
        # Protocol 2 spells b"" as bytes(); never bytes(n), which would allocate n bytes.
        if not isinstance(data, (bytes, bytearray)):
            raise UnsafePickleError(f"{where}: bytes from {type(data).__name__}; refused")
        return bytes(data)

    def make_set(items: Any = ()) -> set:
        return set(_only_list(items, "set"))

    def make_frozenset(items: Any = ()) -> frozenset:
        return frozenset(_only_list(items, "frozenset"))

    def make_complex(real: Any = 0.0, imag: Any = 0.0) -> complex:
        if not all(isinstance(v, (int, float)) for v in (real, imag)):
            raise UnsafePickleError(f"{where}: complex from non-numbers; refused")
        return complex(real, imag)

    def _only_list(items: Any, kind: str) -> list:
        if not isinstance(items, list):
            raise UnsafePickleError(f"{where}: {kind} from {type(items).__name__}; refused")
        return items

    table: dict[tuple[str, str], Callable[..., Any] | type] = {
        ("numpy", "dtype"): dtype, ("numpy", "ndarray"): NdarrayToken,
        ("_codecs", "encode"): codecs_encode,
        ("builtins", "set"): make_set, ("builtins", "frozenset"): make_frozenset,
        ("builtins", "bytearray"): make_bytearray, ("builtins", "bytes"): make_bytes,
        ("builtins", "complex"): make_complex,
    }
    for core in ("numpy.core", "numpy._core"):  # numpy 1.x and 2.x write different paths
        table[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{core}.multiarray", "scalar")] = scalar
        table[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return table


ALLOWED_GLOBALS = tuple(sorted(f"{m}.{n}" for m, n in _allowed("")))


class _Restricted(pickle.Unpickler):
    def __init__(self, data: bytes, where: str):
        super().__init__(io.BytesIO(data), fix_imports=False)
        self.where = where
        self.table = _allowed(where)

    def find_class(self, module: str, name: str) -> Any:
        key = ("builtins" if module == "__builtin__" else module, name)
        found = self.table.get(key)
        if found is None:
            raise UnsafePickleError(f"{self.where}: pickle refers to {module}.{name}, which is not "
                                    "plain data (only containers, numbers, strings and numpy "
                                    "arrays are read); refused, nothing executed")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.where}: pickle uses persistent ids; refused")


_PLAIN = (str, bytes, bytearray, bool, int, float, complex, type(None), np.generic)


def _check_plain(obj: Any, where: str, depth: int = 0, seen: set[int] | None = None) -> None:
    """Everything reachable is plain data (a second line of defence after find_class).

    Containers are visited once each (`seen`), so a stream of shared references cannot make
    the walk exponential."""
    seen = set() if seen is None else seen
    if isinstance(obj, (dict, list, tuple, set, frozenset)):
        if id(obj) in seen:
            return
        seen.add(id(obj))
    if depth > _MAX_DEPTH:
        raise UnsafePickleError(f"{where}: pickle nests deeper than {_MAX_DEPTH} levels; refused")
    if isinstance(obj, np.ndarray):
        if type(obj) is not np.ndarray:
            raise UnsafePickleError(f"{where}: pickle holds a {type(obj).__name__}; refused")
        _check_dtype(obj.dtype, where)
    elif isinstance(obj, np.generic):
        _check_dtype(obj.dtype, where)
    elif isinstance(obj, np.dtype):
        _check_dtype(obj, where)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check_plain(k, where, depth + 1, seen)
            _check_plain(v, where, depth + 1, seen)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            _check_plain(v, where, depth + 1, seen)
    elif not isinstance(obj, _PLAIN) or type(obj).__module__ not in ("builtins", "numpy"):
        raise UnsafePickleError(f"{where}: pickle produced a {type(obj).__name__}; refused")


def safe_loads(data: bytes, where: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Unpickle `data` (from `where`, named in errors) admitting plain data and numpy only.

    Raises UnsafePickleError naming the refused global (or the size, or the bad argument);
    nothing the stream names outside the allowed table is imported or called.
    """
    if len(data) > max_bytes:
        raise UnsafePickleError(f"{where}: pickle payload is {len(data):,} bytes, above the "
                                f"{max_bytes:,}-byte limit for this kind of file; refused unread")
    try:
        obj = _Restricted(data, where).load()
    except UnsafePickleError:
        raise
    except RecursionError:
        raise UnsafePickleError(f"{where}: pickle nests too deeply; refused") from None
    except Exception as exc:  # truncated or malformed streams raise many kinds
        raise UnsafePickleError(f"{where}: not a readable pickle ({type(exc).__name__}: "
                                f"{str(exc)[:80]})") from None
    _check_plain(obj, where)
    return obj


def safe_load_file(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """`safe_loads` of a whole file; its size is checked before it is read."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    if size > max_bytes:
        raise UnsafePickleError(f"{path}: pickle payload is {size:,} bytes, above the "
                                f"{max_bytes:,}-byte limit for this kind of file; refused unread")
    return safe_loads(path.read_bytes(), str(path), max_bytes)
