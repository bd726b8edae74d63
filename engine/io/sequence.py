"""Image-sequence patterns: `plate.%04d.exr`, `plate.####.exr`, `plate.@@@@.exr`, `plate.#.exr`.

`#` runs and printf `%0Nd` give the zero-padded width; a single `#` (Nuke's shorthand for "any
padding") matches numbers of any width on disk and formats unpadded.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError

_PRINTF = re.compile(r"%(0?)(\d*)d")
_HASH = re.compile(r"#+|@+")


@dataclass(frozen=True)
class SequencePattern:
    """A frame-numbered file pattern split into prefix, padding and suffix."""

    prefix: str  # folder and file name up to the frame number
    padding: int  # zero-padded width; 0 = any width
    suffix: str  # after the frame number, extension included

    @classmethod
    def parse(cls, pattern: str | os.PathLike[str]) -> SequencePattern:
        text = str(pattern)
        matches = list(_PRINTF.finditer(text)) + list(_HASH.finditer(text))
        if len(matches) != 1:
            raise InputError(
                f"{text}: not a sequence pattern; write the frame number as %04d or #### "
                "(exactly once)"
            )
        m = matches[0]
        token = m.group(0)
        if token.startswith("%"):
            padding = int(m.group(2) or 0)
        else:
            padding = 0 if len(token) == 1 else len(token)
        return cls(text[: m.start()], padding, text[m.end():])

    @staticmethod
    def is_pattern(text: str | os.PathLike[str]) -> bool:
        s = str(text)
        return bool(_PRINTF.search(s) or _HASH.search(Path(s).name))

    def path(self, frame: int) -> Path:
        """The file path of `frame` (negative frames keep their sign before the padding)."""
        sign = "-" if frame < 0 else ""
        return Path(f"{self.prefix}{sign}{abs(frame):0{self.padding}d}{self.suffix}")

    def __str__(self) -> str:
        return f"{self.prefix}{'#' * max(self.padding, 1)}{self.suffix}"


def find_sequence(pattern: str | os.PathLike[str]) -> dict[int, Path]:
    """Frames present on disk for `pattern`, as {frame: path} sorted by frame."""
    seq = SequencePattern.parse(pattern)
    folder = Path(seq.prefix).parent
    head = Path(seq.prefix).name
    width = r"\d+" if seq.padding == 0 else rf"\d{{{seq.padding},}}"
    rx = re.compile(rf"^{re.escape(head)}(-?{width}){re.escape(seq.suffix)}$")
    found: dict[int, Path] = {}
    if folder.is_dir():
        for entry in os.scandir(folder):
            m = rx.match(entry.name)
            if m and entry.is_file():
                found[int(m.group(1))] = folder / entry.name
    return dict(sorted(found.items()))
