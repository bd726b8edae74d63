"""A render's start: the model loads on a thread while the job is checked and the first plates
are read, so a farm chunk's first frame waits for the slower of the two, not for their sum.

`ModelLoad(config, spinning)` builds the `FaceSwapper` (the ONNX Runtime session: 0.1–0.3 s for
a 30 MB model) on a thread of its own and runs the model once on a blank face there (ONNX
Runtime's first run allocates and plans, several times a later run's cost; the frame after it
no longer pays that). ONNX Runtime releases the GIL while it builds and runs a session, so the
caller's thread goes on with the checks and a `ReadAhead` (engine.shot.overlap) decodes the first
plates meanwhile. `result()` returns the swapper or raises what loading raised (a model ONNX
Runtime cannot load is a `ModelError`), before the caller writes anything.

The warm-up run changes no pixel: a session keeps no state between runs.
"""

from __future__ import annotations

import threading

import numpy as np

from engine.swap.pipeline import FaceSwapper
from engine.swap.settings import EngineConfig


class ModelLoad:
    """A `FaceSwapper` being built (and its model run once) on a thread of its own."""

    def __init__(self, config: EngineConfig, spinning: bool = True):
        self._swapper: FaceSwapper | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, args=(config, spinning),
                                        name="doppel-model-load", daemon=True)
        self._thread.start()

    def _load(self, config: EngineConfig, spinning: bool) -> None:
        try:
            swapper = FaceSwapper(config, spinning=spinning)
            r = swapper.model.resolution
            swapper.model.run(np.zeros((1, r, r, 3), np.float32))
            self._swapper = swapper
        except BaseException as exc:  # raised in the caller's thread by result()
            self._error = exc

    def result(self) -> FaceSwapper:
        """The loaded swapper (waits for it); raises the loading thread's exception."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._swapper is not None
        return self._swapper
