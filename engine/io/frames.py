"""The farm frame-range syntax: `1001-1100`, `1,3,5-7`, `1001-1100x2`, `1100-1001` (reverse).

Frames are the shot's own numbers (1001…), never list indices. Parsing keeps the order given and
drops repeats, so a range string round-trips through `format_frame_range` for sorted inputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine.errors import FrameRangeError

_PART = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*(?:[x:]\s*(\d+)\s*)?)?$")


def parse_frame_range(text: str) -> list[int]:
    """Parse a frame-range string into frame numbers, in the given order, without repeats.

    >>> parse_frame_range("1,3,5-7")
    [1, 3, 5, 6, 7]
    >>> parse_frame_range("1001-1009x4")
    [1001, 1005, 1009]
    """
    if not isinstance(text, str) or not text.strip():
        raise FrameRangeError(
            f"empty frame range {text!r}: use e.g. '1001-1100', '1,3,5-7' or '1001-1100x2'"
        )
    frames: list[int] = []
    seen: set[int] = set()
    for part in text.split(","):
        m = _PART.match(part)
        if not m:
            raise FrameRangeError(
                f"bad frame range part {part.strip()!r} in {text!r}: "
                "use 'A', 'A-B' or 'A-BxSTEP' separated by commas"
            )
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) is not None else start
        step = int(m.group(3)) if m.group(3) is not None else 1
        if step <= 0:
            raise FrameRangeError(f"step must be positive in {part.strip()!r} of {text!r}")
        direction = 1 if end >= start else -1
        for f in range(start, end + direction, step * direction):
            if f not in seen:
                seen.add(f)
                frames.append(f)
    return frames


def format_frame_range(frames: Iterable[int]) -> str:
    """Compact sorted frames back into the syntax: [1,2,3,5] -> '1-3,5'."""
    ordered = sorted(set(int(f) for f in frames))
    if not ordered:
        return ""
    parts: list[str] = []
    start = prev = ordered[0]
    for f in ordered[1:] + [None]:  # type: ignore[list-item]
        if f is not None and f == prev + 1:
            prev = f
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if f is not None:
            start = prev = f
    return ",".join(parts)


_FRAME_IN_MESSAGE = re.compile(r"frame (-?\d+)")


def summarise_messages(messages: Iterable[str], limit: int = 20) -> list[str]:
    """Collapse per-frame messages that differ only in the frame number into one line each.

    `["frame 5 is missing", "frame 6 is missing"]` → `["frames 5-6 (2): frame # is missing"]`;
    at most `limit` lines (the rest counted in a last line), so a range typo that misses 18,000
    frames prints one line, not 18,000.
    """
    groups: dict[str, list[int]] = {}
    single: dict[str, str] = {}
    for msg in messages:
        m = _FRAME_IN_MESSAGE.search(msg)
        if not m:
            groups.setdefault(msg, [])
            continue
        key = re.sub(rf"(?<![\d-]){re.escape(m.group(1))}(?!\d)", "#", msg)
        groups.setdefault(key, []).append(int(m.group(1)))
        single.setdefault(key, msg)
    lines = []
    for key, frames in groups.items():
        if len(frames) <= 1:
            lines.append(single.get(key, key))
        else:
            lines.append(f"frames {format_frame_range(frames)} ({len(frames)}): {key}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"… and {len(lines) - limit} more kinds of error"]
    return lines
