"""Atomic file writes: write to a temp file in the target folder, fsync, then rename over.

A reader (or a farm task resuming a chunk) sees either the old file or the complete new one,
never a half-written file. Temp files are named `.STEM.HOST.PID.RANDOM.tmpSUFFIX`, so a crash
leaves them recognisable and `remove_stale_temps` can tell a dead writer's leftovers (same host,
process gone; or older than a day, from any host) from a live farm job's file in flight.
A full disk is reported as such (`DiskFullError`), naming the file: an ENOSPC/EDQUOT error,
or any failure of a writer that loses the errno on its way (OpenEXR's and PyTorch's C++ writers
say only "write failed") while the file system has no space left.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from engine.errors import DiskFullError

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_TEMP = re.compile(r"^\.(?P<stem>.*)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[^.]+\.tmp[^/]*$")
STALE_AFTER_S = 24 * 3600.0
FULL_BELOW_BYTES = 1 << 20  # a write that failed with less than this left failed for space


def no_space_left(folder: Path) -> bool:
    """True when the file system holding `folder` has (almost) no space left for us."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return False
    return st.f_bavail * st.f_frsize < FULL_BELOW_BYTES


def _disk_full(target: Path, exc: OSError) -> DiskFullError:
    return DiskFullError(f"{target}: disk full (No space left on device) while writing; "
                         "free space and run the same command again to resume")


def staged_path(target: str | os.PathLike[str]) -> Path:
    """A new empty temp file beside `target`, named as `atomic_path`'s temps (so a dead run's
    are recognised and removed by `remove_stale_temps`), for a file written now and renamed
    over `target` later (`os.replace`) or removed. The temp name keeps the target's extension.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.stem}.{_HOST}.{os.getpid()}.", suffix=f".tmp{target.suffix}",
        dir=target.parent
    )
    os.close(fd)
    # mkstemp makes 0600 files; outputs must be readable like any other file (farm, comp).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside `target`; on clean exit rename it over `target`.

    The temp name keeps the target's extension (OpenImageIO picks the format from it). On an
    exception the temp file is removed and `target` is left as it was.
    """
    target = Path(target)
    tmp_path = staged_path(target)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT) or no_space_left(target.parent)
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if full:
            raise _disk_full(target, exc) from None
        raise
    except BaseException as exc:
        # Measured before the temp goes: its removal frees the space the write lacked.
        full = isinstance(exc, Exception) and no_space_left(target.parent)
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if full:
            raise _disk_full(target, exc) from None
        raise


@contextlib.contextmanager
def staged_in_memory(tmp: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a path for a native writer to write `tmp`'s bytes to, which then reach `tmp`
    through Python's own writes, so every failure of the write raises (an `OSError` with its
    errno: ENOSPC for a full disk).

    Why: OpenImageIO's writers lose the errors of the bytes they flush on close (OpenEXR's last
    chunks and offset table, a PNG's end); a disk filling at that moment left a truncated file
    that `close()` reported as written (tests/faults/test_write_full_disk.py). On Linux the
    path is an anonymous memory file's (`memfd_create`, opened through /proc; its bytes are
    copied to `tmp` by `sendfile`, a few ms for a 4K frame); elsewhere it is `tmp` itself.
    """
    if not hasattr(os, "memfd_create"):
        yield str(tmp)
        return
    try:
        fd = os.memfd_create("doppel-write", os.MFD_CLOEXEC)
    except OSError:  # an old kernel (ENOSYS), a sandbox (EPERM), no fds left: write directly
        fd = -1
    stage = f"/proc/self/fd/{fd}"
    if fd < 0 or not os.path.exists(stage):  # or no /proc (a bare container)
        if fd >= 0:
            os.close(fd)
        yield str(tmp)
        return
    try:
        yield stage
        with open(tmp, "wb") as fh:
            _copy_fd(fd, fh.fileno(), os.fstat(fd).st_size, tmp)
    finally:
        os.close(fd)


def _copy_fd(src: int, dst: int, size: int, name: str | os.PathLike[str]) -> None:
    """`size` bytes of `src` from its start to `dst`, raising every write error: sendfile, or
    pread/write where the target's file system takes no sendfile (EINVAL, ENOSYS)."""
    offset = 0
    use_sendfile = True
    while offset < size:
        if use_sendfile:
            try:
                sent = os.sendfile(dst, src, offset, size - offset)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                use_sendfile = False
                continue
        else:
            sent = os.write(dst, os.pread(src, min(size - offset, 1 << 24), offset))
        if sent == 0:  # cannot happen for a memory file; never loop forever
            raise OSError(errno.EIO, f"{name}: short copy at byte {offset} of {size}")
        offset += sent


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 `text` to `target` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) writes nothing any more
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_stale_temp(path: Path, now: float | None = None) -> bool:
    """True for a temp file of `atomic_path` whose writer is gone (see module doc)."""
    m = _TEMP.match(path.name)
    if not m:
        return False
    try:
        age = (now or time.time()) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if m["host"] == _HOST:
        pid = int(m["pid"])
        return pid != os.getpid() and not _alive(pid) or age > STALE_AFTER_S
    return age > STALE_AFTER_S


def remove_stale_temps(folder: str | os.PathLike[str], stem_prefix: str = "") -> list[Path]:
    """Delete stale temp files in `folder` (only ours: `.STEM.HOST.PID.*.tmp*` names, STEM
    starting with `stem_prefix`); returns what was removed."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in os.scandir(folder):
        p = Path(entry.path)
        if (entry.name.startswith("." + stem_prefix) and entry.is_file(follow_symlinks=False)
                and is_stale_temp(p)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed
