"""One error hierarchy for the whole project.

Every message says what went wrong, where (file, frame, parameter) and how to fix it, on one line,
so a CLI can print it as is and an OFX host can show it in its error bar.
"""

from __future__ import annotations

import errno


class DoppelError(Exception):
    """Base of every error Doppel raises on purpose.

    Exit codes (DESIGN.md §8): 0 ok, 1 finished with per-frame errors, 2 bad input or an
    environment the run cannot work in (full disk, unwritable folder), 3 internal error (a bug:
    anything that is not a DoppelError).
    """

    exit_code = 2


class InputError(DoppelError):
    """Bad user input: a file, frame, pattern or parameter that cannot be used as given."""

    exit_code = 2


class MediaError(InputError):
    """An image, EXR or video that is missing, truncated, unreadable or of the wrong shape."""


class LayoutError(MediaError):
    """A readable image laid out as Doppel cannot use (several parts, no RGB channels): the
    same on every frame of a sequence, so a render refuses it before writing anything."""


class FrameRangeError(InputError):
    """A frame range string that does not follow the farm syntax."""


class SettingsError(InputError):
    """A parameter value out of its range or of the wrong kind."""


class ModelError(DoppelError):
    """A model file (detector, landmarker, ONNX swap model) that is missing or unusable."""

    exit_code = 2


class FacesetError(InputError):
    """A faceset on disk that is malformed, of another schema or other settings."""


class NoFaceError(DoppelError):
    """No face where one is required (a reference image, a single-photo extract)."""

    exit_code = 2


class TrainingError(DoppelError):
    """Training cannot go on (NaN loss, checkpoint write failed); the last good state is kept."""


class OutputError(InputError):
    """An output that cannot be written as asked: a folder at the file's path, a file this tool
    did not write, a frame rendered with other settings (without --overwrite)."""


class Cancelled(DoppelError):
    """The caller cancelled a long operation; what was done is kept and a re-run resumes."""

    exit_code = 130


class DiskFullError(OutputError, OSError):
    """The disk (or quota) is full; what was written before stays intact.

    Also an OSError with errno ENOSPC, so code that handles write failures as OSError keeps
    working; `str()` is the one-line message.
    """

    def __init__(self, message: str):
        OSError.__init__(self, errno.ENOSPC, message)
        self.message = message

    def __str__(self) -> str:
        return self.message
