"""Read, compute and write of a frame sequence overlapped: three stages on three threads.

`overlapped(items, compute)` reads the next items on a read-ahead thread while the caller's
thread computes the current one, and runs the write of earlier ones (a `Later` that `compute`
returns) on a writer thread. Results come out one per item, in the items' order, as each one
finishes (its write included), so a caller sees the same sequence as the serial loop
`[compute(i) or its Later's run() for i in items]` and memory stays bounded: at most
`read_ahead` items waiting to be computed and `write_behind` waiting to be written, besides the
one being read, computed and written.

Errors: an exception of the items' iterator or of `compute` is raised in the caller's thread
where the serial loop would raise it; one of a write, when that item's result is due. Closing
the iterator early (an exception, Ctrl-C) stops reading, cancels writes not begun and waits for
the one in progress (writes are atomic: a file is whole or absent).
Convention: the stages share nothing but the items handed on; each stage runs one item at a
time, so `compute` and the writes each see items in order.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from engine.errors import SettingsError

T = TypeVar("T")
R = TypeVar("R")

_END = object()  # the reader's end-of-items marker


@dataclass(frozen=True)
class Later(Generic[R]):
    """Work for the writer thread: `run()` gives the item's result."""

    run: Callable[[], R]


@dataclass(frozen=True)
class _Raised:
    exc: BaseException


class ReadAhead(Generic[T]):
    """The items of an iterable, produced on a thread of their own up to `depth` ahead of the
    one iterating them; the thread starts on creation, so a caller can start reading (the
    first plate of a render) while it does other work (loading the model).

    Iterating yields the items in order; an exception of the items' iterator is raised where
    it would have been. `close()` stops the thread (after the item it is producing) and waits
    for it; `overlapped` closes the one it is given.
    """

    def __init__(self, items: Iterable[T], depth: int = 2):
        if depth < 1:
            raise SettingsError(f"read-ahead depth must be ≥ 1, got {depth}")
        self._stop = threading.Event()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, args=(items,),
                                        name="doppel-read-ahead", daemon=True)
        self._thread.start()

    def _put(self, value: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, items: Iterable[T]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the caller, raised where the loop would
            self._put(_Raised(exc))
            return
        self._put(_END)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def overlapped(items: Iterable[T], compute: Callable[[T], R | Later[R]], *,
               read_ahead: int = 2, write_behind: int = 1, threads: bool = True
               ) -> Iterator[R]:
    """Yield `compute(item)` (or, for a `Later`, its `run()` on the writer thread) per item, in
    order, with reading `read_ahead` items ahead and up to `write_behind` writes queued behind
    the one in progress. `threads=False` does all of it on the calling thread, in the same
    order (items that must be read on the thread that asks: a host's clip,
    `FrameSource.reads_on_any_thread`)."""
    if read_ahead < 1 or write_behind < 0:
        raise SettingsError(f"overlapped: read_ahead must be ≥ 1 and write_behind ≥ 0, got "
                            f"{read_ahead} and {write_behind}")
    if not threads:
        for item in items:
            result = compute(item)
            yield result.run() if isinstance(result, Later) else result
        return
    # Items already being read ahead (a started ReadAhead) are taken as they are.
    reader = items if isinstance(items, ReadAhead) else ReadAhead(items, read_ahead)
    writer = ThreadPoolExecutor(1, thread_name_prefix="doppel-write")
    pending: deque[Future[R] | tuple[R]] = deque()  # in item order: a write, or a result
    writes = 0  # writes in `pending`

    def head() -> R:
        nonlocal writes
        first = pending.popleft()
        if isinstance(first, tuple):
            return first[0]
        writes -= 1
        return first.result()

    try:
        for item in reader:
            result = compute(item)
            if isinstance(result, Later):
                while writes > write_behind:  # bounded: wait for the oldest write
                    yield head()
                pending.append(writer.submit(result.run))
                writes += 1
            else:
                pending.append((result,))
            while pending and (isinstance(pending[0], tuple) or pending[0].done()):
                yield head()
        while pending:
            yield head()
    finally:
        reader.close()
        writer.shutdown(wait=True, cancel_futures=True)
