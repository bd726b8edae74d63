"""A pool of worker processes for frame batches, with no module state.

`run_batches(batches, workers, init, init_args, work)` starts `workers` processes (spawn: a forked
child would inherit ONNX Runtime's and dlib's thread pools in whatever state they were, which can
deadlock). Each builds its own state once, `state = init(*init_args)` (so a model loads once per
process, in the process that uses it), then runs `work(state, batch)` for batches taken from a
queue, and the parent yields the results in the batches' order. `init` and `work` must be
module-level functions (they travel by name).

Errors: a DoppelError in a worker is raised in the parent as the same class with the same
one-line message; anything else as a RuntimeError carrying the worker's traceback; a worker that
dies (killed, crashed) is an error naming its exit code. Workers exit with the parent whatever
kills it (the kernel's parent-death signal on Linux, and a watchdog everywhere). On an error or
Ctrl-C in the parent the workers are stopped at once; writes are atomic, so a frame a worker was
writing is whole or absent.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import engine.errors as errors
from engine.errors import DiskFullError, DoppelError


def die_with_parent() -> None:
    """Make this process exit when the process that started it goes, whatever the signal
    (SIGKILL included): the kernel's parent-death signal where there is one (Linux), and a
    watchdog thread that polls the parent everywhere."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="doppel-parent-watch", daemon=True).start()


def _error_payload(exc: BaseException) -> tuple[str, str, str]:
    """(kind, class name, message or traceback): what crosses back to the parent."""
    if isinstance(exc, DiskFullError):
        return ("disk", "DiskFullError", str(exc))
    if isinstance(exc, DoppelError):
        return ("doppel", type(exc).__name__, str(exc))
    return ("internal", type(exc).__name__, "".join(traceback.format_exception(exc)))


def _rebuild(kind: str, name: str, text: str) -> BaseException:
    if kind == "disk":
        return DiskFullError(text)
    cls = getattr(errors, name, None)
    if kind == "doppel" and isinstance(cls, type) and issubclass(cls, DoppelError):
        try:
            return cls(text)
        except TypeError:
            pass
    if kind == "doppel":
        return DoppelError(text)
    return RuntimeError(f"render worker failed:\n{text}")


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Ctrl-C held back while children are started. A terminal sends SIGINT to the whole
    process group: a child still importing (before `_serve` ignores it) would print a
    KeyboardInterrupt traceback, and a parent interrupted inside `Process.start` leaves a
    half-started child printing an EOFError. So SIGINT is blocked in this thread (a child
    inherits the mask: it is born deaf to Ctrl-C), and one arriving meanwhile is noted by a
    handler and raised in the parent once every child is started (the pool then stops them).
    Only the main thread handles signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda sig, frame: noted.append(sig))
    mask = (signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            if hasattr(signal, "pthread_sigmask") else None)
    try:
        yield
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, previous)
        if noted and callable(previous):
            previous(signal.SIGINT, None)  # default_int_handler: KeyboardInterrupt


def _serve(init: Callable[..., Any], init_args: tuple[Any, ...],
           work: Callable[[Any, Any], Any], tasks: Any, results: Any) -> None:
    """A worker process's whole life: its state, then batches until the sentinel."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        state = init(*init_args)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        results.put((-1, "error", _error_payload(exc)))
        return
    while True:
        item = tasks.get()
        if item is None:
            return
        index, batch = item
        try:
            results.put((index, "ok", work(state, batch)))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
            results.put((index, "error", _error_payload(exc)))
            return


# Set once this process has started worker processes: their queues' semaphores are released by
# the interpreter's teardown, which an interrupted command must then not skip (doppel_cli.main).
SPAWNED = False


def run_batches(batches: Sequence[Any], workers: int, init: Callable[..., Any],
                init_args: tuple[Any, ...], work: Callable[[Any, Any], Any]) -> Iterator[Any]:
    """`work(state, batch)` for every batch on `workers` processes; results in batch order."""
    global SPAWNED
    SPAWNED = True
    ctx = multiprocessing.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for item in enumerate(batches):
        tasks.put(item)
    procs = [ctx.Process(target=_serve, args=(init, init_args, work, tasks, results),
                         name=f"doppel-worker-{k}", daemon=True) for k in range(workers)]
    for _ in procs:
        tasks.put(None)
    with _sigint_deferred():  # children born deaf to Ctrl-C; one now reaches us after starts
        for p in procs:
            p.start()
    waiting: dict[int, Any] = {}
    next_index = 0
    try:
        while next_index < len(batches):
            if next_index in waiting:
                yield waiting.pop(next_index)
                next_index += 1
                continue
            try:
                index, status, value = results.get(timeout=0.5)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"render worker {dead[0].name} died (exit code "
                                       f"{dead[0].exitcode})") from None
                continue
            if status == "error":
                raise _rebuild(*value)
            waiting[index] = value
        for p in procs:
            p.join()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
        for q in (tasks, results):
            q.cancel_join_thread()
            q.close()
