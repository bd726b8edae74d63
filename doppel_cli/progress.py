"""Progress for the CLI: a bar on a terminal, a plain line every few seconds in a farm log.

A progress bar redraws with carriage returns; in a log file (no TTY) that becomes one line of
hundreds of updates. There `progress` prints `render: 40/120 frames (33%), 2.1 frames/s, ETA 38 s`
every `DOPPEL_PROGRESS_SECONDS` (default 10) and once at the end.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO, TypeVar

T = TypeVar("T")


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("DOPPEL_PROGRESS_SECONDS", "10")))
    except ValueError:
        return 10.0


def _eta(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def plain_lines(it: Iterable[T], total: int, desc: str, unit: str = "frame",
                stream: TextIO | None = None, every: float | None = None,
                clock: Any = time.monotonic) -> Iterator[T]:
    """Yield from `it`, printing a plain progress line at most every `every` seconds."""
    out = stream or sys.stderr
    every = _interval() if every is None else every
    start = last = clock()
    done = 0

    def line() -> None:
        elapsed = max(clock() - start, 1e-9)
        rate = done / elapsed
        pct = f" ({100 * done / total:.0f}%)" if total else ""
        eta = f", ETA {_eta((total - done) / rate)}" if rate > 0 and total > done else ""
        print(f"{desc}: {done}/{total} {unit}s{pct}, {rate:.2f} {unit}s/s{eta}", file=out,
              flush=True)

    for item in it:
        yield item
        done += 1
        now = clock()
        if now - last >= every:
            line()
            last = now
    line()


def progress(it: Iterable[T], total: int, desc: str, quiet: bool = False,
             unit: str = "frame") -> Iterable[T]:
    """A tqdm bar when stderr is a terminal; plain lines otherwise; nothing with `quiet`."""
    if quiet or total == 0:
        return it
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(it, total=total, desc=desc, unit=unit, file=sys.stderr)
    return plain_lines(it, total, desc, unit)
