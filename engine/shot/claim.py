"""One writer per output sequence: a render claims its output before the first write.

A claim is a small JSON file beside the sequence, one per running render (farm chunk, worker
pool, node's farm job): `.NAME.claim.HOST.PID.json` where NAME is the pattern's file name (e.g.
`.swap.####.exr.claim.render7.4242.json`), holding the render's record and its digest
(`engine.shot.resume`: model and track content, pixel settings, output options, engine).
Renders with the same digest share the sequence (farm chunks of one job, on any host); a render
with another digest is refused at start while any of them runs (exit 2), naming the difference,
the other job's host and process, and the claim file. The per-frame resume check stays as the
second line (a frame written meanwhile by a job that ignores claims is that frame's error).

Claims of dead jobs never block: on the same host a claim whose process is gone is stale; from
any host one not refreshed for `STALE_AFTER_S` (a live claim is touched every `HEARTBEAT_S` by a
daemon thread) is. Stale claims are removed by the next render. Taking a claim writes it, then
looks again, so of two jobs with other settings starting at the same moment at least the later
one is refused (both, at worst: never two writers with different settings).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import OutputError
from engine.io.atomic import _HOST, _alive, atomic_write_text
from engine.io.sequence import SequencePattern
from engine.shot.resume import difference, digest

CLAIM_SCHEMA = 1
HEARTBEAT_S = 20.0
STALE_AFTER_S = float(os.environ.get("DOPPEL_CLAIM_STALE_S", 180))


@dataclass(frozen=True)
class Holder:
    """A claim on disk: its file and what it says."""

    path: Path
    host: str
    pid: int
    digest: str
    record: dict[str, Any]
    started: float

    def stale(self, now: float) -> bool:
        try:
            age = now - self.path.stat().st_mtime
        except FileNotFoundError:
            return True
        if age > STALE_AFTER_S:
            return True
        return self.host == _HOST and self.pid != os.getpid() and not _alive(self.pid)

    def describe(self) -> str:
        since = time.strftime("%H:%M:%S", time.localtime(self.started))
        return f"host {self.host}, process {self.pid}, since {since}"


def claim_prefix(pattern: SequencePattern) -> tuple[Path, str]:
    """The folder and the name prefix of the claims on `pattern`'s sequence."""
    name = Path(str(pattern)).name
    return pattern.folder, f".{name}.claim."


def holders(pattern: SequencePattern) -> list[Holder]:
    """Every claim file on the sequence, readable or not (an unreadable one is stale junk: it
    is reported as a holder without a record, and removed when stale)."""
    folder, prefix = claim_prefix(pattern)
    found: list[Holder] = []
    if not folder.is_dir():
        return found
    for entry in os.scandir(folder):
        if not (entry.name.startswith(prefix) and entry.name.endswith(".json")):
            continue
        path = Path(entry.path)
        try:
            data = json.loads(path.read_text())
            found.append(Holder(path, str(data["host"]), int(data["pid"]), str(data["digest"]),
                                dict(data["record"]), float(data["started"])))
        except (OSError, ValueError, KeyError, TypeError):
            host, _, pid = entry.name[len(prefix):-len(".json")].rpartition(".")
            found.append(Holder(path, host, int(pid) if pid.isdigit() else -1, "", {}, 0.0))
    return found


class SequenceClaim:
    """This render's claim on its output sequence (a context manager: released on exit)."""

    def __init__(self, pattern: SequencePattern, record: dict[str, Any]):
        self.pattern, self.record, self.digest = pattern, record, digest(record)
        folder, prefix = claim_prefix(pattern)
        self.path = folder / f"{prefix}{_HOST}.{os.getpid()}.json"
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def _conflict(self) -> Holder | None:
        now = time.time()
        for h in holders(self.pattern):
            if h.path == self.path:
                continue
            if h.stale(now):
                with contextlib.suppress(FileNotFoundError):
                    h.path.unlink()
                continue
            if h.digest != self.digest:
                return h
        return None

    def _refuse(self, other: Holder) -> OutputError:
        what = (f"with {difference(other.record, self.record)}" if other.record
                else "(its claim is unreadable)")
        return OutputError(f"{self.pattern}: another render is writing this sequence {what} "
                           f"({other.describe()}; claim {other.path}); wait for it, render to "
                           "another --output, or remove the claim file if that job is gone")

    def take(self) -> SequenceClaim:
        """Claim the sequence or raise OutputError (nothing written then)."""
        other = self._conflict()
        if other is not None:
            raise self._refuse(other)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps({
            "schema": CLAIM_SCHEMA, "kind": "doppel render claim", "pattern": str(self.pattern),
            "host": _HOST, "pid": os.getpid(), "started": time.time(), "digest": self.digest,
            "record": self.record}))
        other = self._conflict()  # one that started at the same moment
        if other is not None:
            self.release()
            raise self._refuse(other)
        self._beat = threading.Thread(target=self._heartbeat, name="doppel-claim", daemon=True)
        self._beat.start()
        return self

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self) -> None:
        self._stop.set()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> SequenceClaim:
        return self.take()

    def __exit__(self, *exc: object) -> None:
        self.release()
