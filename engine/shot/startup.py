"""A render's start: the model loads on a thread while the job is checked and the first plates
are read, so a farm chunk's first frame waits for the slower of the two, not for their sum.

`ModelLoad(config, spinning, look)` builds the `FaceSwapper` (the ONNX Runtime session: 0.1–0.3 s
for a 30 MB model) on a thread of its own and runs the model once on a blank face there (ONNX
Runtime's first run allocates and plans, several times a later run's cost), and runs the look's
colour transfer once on another (OpenCV builds its L*a*b* tables on first use: 0.05–0.15 s for
`rct`), so the first frame pays for neither. ONNX Runtime and OpenCV release the GIL while they
work, so the caller's thread goes on with the checks and a `ReadAhead` (engine.shot.overlap)
decodes the first plates meanwhile. `result()` returns the swapper or raises what loading raised (a
model ONNX Runtime cannot load is a `ModelError`), before the caller writes anything.

The warm-up changes no pixel: a session keeps no state between runs, and the colour transfer
is a pure function.
"""

from __future__ import annotations

import threading

import numpy as np

from engine.swap.color_transfer import color_transfer
from engine.swap.pipeline import FaceSwapper
from engine.swap.settings import EngineConfig, SwapLook


class ModelLoad:
    """A `FaceSwapper` being built (and its model run once) on a thread of its own, the look's
    colour transfer warmed on another."""

    def __init__(self, config: EngineConfig, spinning: bool = True,
                 look: SwapLook | None = None):
        self._swapper: FaceSwapper | None = None
        self._error: BaseException | None = None
        self._threads = [threading.Thread(target=self._load, args=(config, spinning),
                                          name="doppel-model-load", daemon=True)]
        if look is not None and look.color != "none":
            self._threads.append(threading.Thread(target=_warm_colour, args=(look.color,),
                                                  name="doppel-colour-warm-up", daemon=True))
        for t in self._threads:
            t.start()

    def _load(self, config: EngineConfig, spinning: bool) -> None:
        try:
            swapper = FaceSwapper(config, spinning=spinning)
            r = swapper.model.resolution
            swapper.model.run(np.full((1, r, r, 3), 0.5, np.float32))
            self._swapper = swapper
        except BaseException as exc:  # raised in the caller's thread by result()
            self._error = exc

    def wait(self) -> None:
        """Wait for the load and the warm-up to end, whatever they end with. A caller leaving
        early (a refused job, Ctrl-C) waits too: an interpreter that exits while ONNX Runtime
        builds a session on a daemon thread aborts ("terminate called without an active
        exception") instead of exiting with the command's status."""
        for t in self._threads:
            t.join()

    def result(self) -> FaceSwapper:
        """The loaded swapper (waits for it and the warm-up); raises the loading thread's
        exception."""
        self.wait()
        if self._error is not None:
            raise self._error
        assert self._swapper is not None
        return self._swapper


def _warm_colour(mode: str) -> None:
    """The colour transfer once on a blank face (its first call builds OpenCV's tables)."""
    face = np.full((64, 64, 3), 0.5, np.float32)
    ones = np.ones((64, 64), np.float32)
    try:
        color_transfer(mode, face, face, ones, ones)
    except Exception:  # a warm-up only: the frame's own call reports any problem
        pass
