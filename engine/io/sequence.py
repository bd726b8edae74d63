"""Image-sequence patterns: `plate.%04d.exr`, `plate.####.exr`, `plate.@@@@.exr`, `plate.#.exr`.

Nuke's rule: a run of N `#` (or `@`) is `%0Nd`, and `#` / `%d` is unpadded. A frame's file name
is the frame number formatted so (`path`), and a file on disk is a frame of the sequence only if
its name is exactly that: `cap12.####.exr` reads `cap12.1003.exr` and `cap12.12345.exr` (a frame
needing more digits has no leading zero) but never `cap12.01003.exr`, which is frame 1003 of
another padding. So no two files are one frame, whatever order a folder lists them in. The token
is looked for in the file name only: `take#2/cap12.####.exr` is a sequence in folder `take#2`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError

_PRINTF = re.compile(r"%(0?)(\d*)d")
_HASH = re.compile(r"#+|@+")


def _name_start(text: str) -> int:
    """Where the file name begins in a path string (after its last separator)."""
    return max(text.rfind("/"), text.rfind(os.sep)) + 1


@dataclass(frozen=True)
class SequencePattern:
    """A frame-numbered file pattern split into prefix, padding and suffix."""

    prefix: str  # folder and file name up to the frame number
    padding: int  # zero-padded width; 0 = unpadded
    suffix: str  # after the frame number, extension included

    @classmethod
    def parse(cls, pattern: str | os.PathLike[str]) -> SequencePattern:
        text = str(pattern)
        start = _name_start(text)
        name = text[start:]
        matches = list(_PRINTF.finditer(name)) + list(_HASH.finditer(name))
        if len(matches) != 1:
            raise InputError(
                f"{text}: not a sequence pattern; write the frame number in the file name as "
                "%04d or #### (exactly once)"
            )
        m = matches[0]
        token = m.group(0)
        if token.startswith("%"):
            padding = int(m.group(2) or 0)
        else:
            padding = 0 if len(token) == 1 else len(token)
        return cls(text[:start + m.start()], padding, text[start + m.end():])

    @staticmethod
    def is_pattern(text: str | os.PathLike[str]) -> bool:
        name = str(text)[_name_start(str(text)):]
        return bool(_PRINTF.search(name) or _HASH.search(name))

    @property
    def folder(self) -> Path:
        """The folder holding the sequence's files."""
        return Path(self.prefix[:_name_start(self.prefix)] or ".")

    @property
    def head(self) -> str:
        """The file name up to the frame number (may be empty: `out/####.exr`)."""
        return self.prefix[_name_start(self.prefix):]

    def number(self, frame: int) -> str:
        """`frame` as the file names write it (negative frames keep their sign before the
        padding)."""
        sign = "-" if frame < 0 else ""
        return f"{sign}{abs(frame):0{self.padding}d}"

    def path(self, frame: int) -> Path:
        """The file path of `frame`."""
        return Path(f"{self.prefix}{self.number(frame)}{self.suffix}")

    def __str__(self) -> str:
        return f"{self.prefix}{'#' * max(self.padding, 1)}{self.suffix}"


def _named_like(seq: SequencePattern) -> list[tuple[str, str]]:
    """(file name, its number) of the files in the sequence's folder named like it, whatever the
    number's padding."""
    rx = re.compile(rf"^{re.escape(seq.head)}(-?[0-9]+){re.escape(seq.suffix)}$")
    if not seq.folder.is_dir():
        return []
    return [(e.name, m.group(1)) for e in os.scandir(seq.folder)
            if (m := rx.match(e.name)) and e.is_file()]


def find_sequence(pattern: str | os.PathLike[str]) -> dict[int, Path]:
    """Frames present on disk for `pattern`, as {frame: path} sorted by frame.

    A file is a frame only if its name is the pattern's name for that frame (module doc), so
    one frame is one file: files of another padding beside the sequence are not read (before,
    `cap12.1003.exr` and `cap12.01003.exr` were both frame 1003 for `####`, and the one the
    folder listed last was read).
    """
    seq = SequencePattern.parse(pattern)
    found = {int(number): seq.folder / name for name, number in _named_like(seq)
             if seq.number(int(number)) == number}
    return dict(sorted(found.items()))


def other_paddings(pattern: str | os.PathLike[str]) -> list[str]:
    """Names of files beside the sequence named like it but with another padding (what a
    pattern that finds no frame may have meant), sorted."""
    seq = SequencePattern.parse(pattern)
    return sorted(name for name, number in _named_like(seq) if seq.number(int(number)) != number)
