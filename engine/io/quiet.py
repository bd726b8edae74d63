"""Native libraries (FFmpeg inside OpenCV) print to the process's stderr directly, one line per
broken packet: a corrupt AVI gives over a thousand lines. `native_stderr()` captures fd 2 around
such a call so the caller can report one summary line instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

# File descriptor 2 is the process's: two threads redirecting it at once (the track editor's
# parallel frame requests for a PNG sequence) would each restore what they found, the later one
# leaving stderr on the other's deleted temp file for good. One block at a time; the same thread
# may nest (each level restores what it found).
_REDIRECT = threading.RLock()


@contextlib.contextmanager
def native_stderr(lines: list[str]) -> Iterator[None]:
    """Redirect file descriptor 2 to a temp file for the block; its lines are appended to
    `lines` afterwards (Python's own `sys.stderr` writes are flushed first and go there too).
    A block on another thread waits for this one to end."""
    with _REDIRECT:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                text = tmp.read().decode("utf-8", "replace")
                lines.extend(ln.strip() for ln in text.splitlines() if ln.strip())


def summary_line(tool: str, lines: list[str]) -> str:
    """`FFmpeg: 1445 messages (first: …)` or '' when there were none."""
    if not lines:
        return ""
    return f"{tool}: {len(lines)} decoder message(s) (first: {lines[0][:160]})"
