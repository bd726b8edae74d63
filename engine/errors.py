"""One error hierarchy for the whole project.

Every message says what went wrong, where (file, frame, parameter) and how to fix it, on one line,
so a CLI can print it as is and an OFX host can show it in its error bar.
"""

from __future__ import annotations


class DoppelError(Exception):
    """Base of every error Doppel raises on purpose."""

    exit_code = 1


class InputError(DoppelError):
    """Bad user input: a file, frame, pattern or parameter that cannot be used as given."""

    exit_code = 2


class MediaError(InputError):
    """An image, EXR or video that is missing, truncated, unreadable or of the wrong shape."""


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
