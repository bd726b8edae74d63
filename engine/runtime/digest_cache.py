"""A file's sha256, remembered across runs so a farm chunk does not hash a model it hashed before.

Every render records the model's content digest (resume compares it), and every farm chunk of
a shot is a new process: hashing a 30 MB model each time costs 20–60 ms at the start of each
chunk, for bytes that have not changed. The digest is stored in the user's cache folder
(`$DOPPEL_CACHE`, else `$XDG_CACHE_HOME/doppel`, else `~/.cache/doppel`), under `digests/`, never
beside the file, and reused only when all of these still hold:
- the file's identity and change stamps are the ones it was stored with: device, inode, size,
  modification time and status-change time (ctime), in nanoseconds. Rewriting a file in place
  or replacing it changes its ctime (and a replacement its inode), which no tool can set back;
- the file was not changed within `SETTLE_S` seconds of the digest being stored (a file still
  being written, or changed twice within one tick of the filesystem's clock, is never cached:
  the rule git uses for its index);
- a sample of its bytes (the first and last 64 KiB and the size) hashes as when stored.
Anything else is a miss, and the digest is computed from the bytes. A cache that cannot be read
or written is ignored (a run never fails for it); `DOPPEL_CACHE=off` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

SCHEMA = 1
SETTLE_S = 2.0  # a file changed more recently than this is not cached
SAMPLE = 64 << 10  # bytes from each end hashed to verify a hit


def cache_dir() -> Path | None:
    """The folder for Doppel's caches (None when turned off with DOPPEL_CACHE=off)."""
    env = os.environ.get("DOPPEL_CACHE")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "no") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "doppel"


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _sample(data: bytes | memoryview) -> str:
    view = memoryview(data)
    h = hashlib.sha256(str(len(view)).encode())
    h.update(view[:SAMPLE])
    h.update(view[-SAMPLE:])
    return h.hexdigest()


def _entry_path(folder: Path, path: Path) -> Path:
    return folder / "digests" / (hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".json")


def read_with_digest(path: str | os.PathLike[str]) -> tuple[bytes, str]:
    """The file's bytes and their sha256 (hex): the digest from the cache when the file is
    provably the one it was stored for (module doc), else computed from the bytes and stored.

    The file is stat'ed before and after it is read: one that changed meanwhile is hashed,
    never looked up or cached. Raises OSError as `Path.read_bytes` does."""
    path = Path(path)
    folder = cache_dir()
    before = path.stat()
    data = path.read_bytes()
    if folder is None:
        return data, hashlib.sha256(data).hexdigest()
    try:
        resolved = path.resolve()
        after = path.stat()
    except OSError:
        return data, hashlib.sha256(data).hexdigest()
    stamp = _stamp(before)
    if _stamp(after) != stamp or before.st_size != len(data):
        return data, hashlib.sha256(data).hexdigest()
    entry = _entry_path(folder, resolved)
    sample = _sample(data)
    try:
        stored = json.loads(entry.read_text())
        if (stored.get("schema") == SCHEMA and stored.get("path") == str(resolved)
                and stored.get("stamp") == stamp and stored.get("sample") == sample
                and isinstance(stored.get("sha256"), str)):
            return data, stored["sha256"]
    except (OSError, ValueError, AttributeError):
        pass
    digest = hashlib.sha256(data).hexdigest()
    changed = max(before.st_mtime_ns, before.st_ctime_ns) / 1e9
    if time.time() - changed >= SETTLE_S:
        _store(entry, {"schema": SCHEMA, "path": str(resolved), "stamp": stamp,
                       "sample": sample, "sha256": digest})
    return data, digest


def _store(entry: Path, record: dict[str, object]) -> None:
    """Write one cache entry atomically; any failure leaves the cache as it was."""
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(record))
        os.replace(tmp, entry)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
