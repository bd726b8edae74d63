"""Native libraries (FFmpeg inside OpenCV) print to the process's stderr directly, one line per
broken packet: a corrupt AVI gives over a thousand lines. `native_stderr()` captures fd 2 around
such a call so the caller can report one summary line instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr(lines: list[str]) -> Iterator[None]:
    """Redirect file descriptor 2 to a temp file for the block; its lines are appended to
    `lines` afterwards (Python's own `sys.stderr` writes are flushed first and go there too)."""
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
