"""The track editor's server: the standard library's HTTP server on 127.0.0.1, one plate and
one track, a static page (static/, no build step) that talks to it in JSON.

Endpoints (all JSON except frames and the page):
- `GET /` the page, `GET /editor.js` its script;
- `GET /api/track`: the track as the page draws it (`state`);
- `GET /api/frame/<n>.jpg`: plate frame `n`, display-encoded (the engine's display transform);
- `POST /api/key` `{frame, kind: box|points|noface, box: [x0, y0, x1, y1], points: 68×[x, y],
  span}`: key a frame (resolved on the plate at once), answers the new `state`;
- `POST /api/unkey` `{frame}`: remove a frame's key (undo: its raw result back);
- `POST /api/save`: write the track atomically (temp + rename) where it was read; refused
  when the file changed on disk since it was read or last saved.

Only this editor's page is answered: the Host header must name this server (127.0.0.1 or
localhost and its port) and a POST's Origin, when sent, too (403 otherwise), so another site
open in the same browser cannot read the plate or write the track.

A bad request answers 400 with `{"error": one line}` (the engine's InputError text); edits
live in memory until saved, and the page warns before leaving with unsaved edits.
Coordinates: the track's display-window pixels, full resolution, y down.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import traceback
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.errors import DoppelError, InputError
from engine.geometry.health import track_health
from engine.geometry.track import Track
from engine.geometry.track_keys import TrackKey, apply_keys
from engine.shot.track_edit import PlateFrames, check_plate

STATIC = Path(__file__).with_name("static")
_FRAME = re.compile(r"^/api/frame/(-?\d+)\.jpg$")


class EditorState:
    """The plate, the track being edited and whether it holds unsaved edits; thread-safe."""

    def __init__(self, plate: str | Path, track_path: str | Path):
        self.plate_name, self.track_path = str(plate), Path(track_path)
        self.plate = PlateFrames.open(plate)
        self._on_disk = self._digest()  # the file as read (or last saved): see `save`
        self.track = Track.load(self.track_path)
        check_plate(self.track, self.plate, str(self.track_path))
        self.dirty = False
        self.lock = threading.Lock()
        self._landmarker: Any = None

    def state(self) -> dict[str, Any]:
        t = self.track
        _rgb, geo = self.plate(t.frames[0]) if t.frames else (None, None)
        display = t.plate_display() or (geo.display if geo is not None else (0, 0, 0, 0))
        return {
            "plate": self.plate_name, "track": str(self.track_path),
            "width": display[2], "height": display[3],
            "frames": sorted(t.analysed()),
            "landmarks": {str(f): np.round(t.landmarks(f), 2).tolist() for f in t.frames},
            "keys": {str(f): {"kind": k.kind, "span": k.span,
                              "box": list(k.box) if k.box is not None else None}
                     for f, k in t.keys.items()},
            "suspects": {str(f): r for f, r in track_health(t).items()},
            "dirty": self.dirty,
        }

    def key(self, body: dict[str, Any]) -> None:
        try:
            frame, kind = int(body["frame"]), str(body["kind"])
            span = int(body.get("span", 0))
        except (KeyError, TypeError, ValueError):
            raise InputError("a key needs frame (a number), kind and span") from None
        box = body.get("box")
        pts = body.get("points")
        key = TrackKey(frame, kind, span,
                       tuple(float(v) for v in box) if box is not None else None,  # type: ignore
                       np.asarray(pts, np.float32) if pts is not None else None)
        if key.kind == "box" and self._landmarker is None:
            from engine.geometry.landmarks import DlibLandmarker

            self._landmarker = DlibLandmarker()
        keys = dict(self.track.keys)
        keys[frame] = key
        self.track = apply_keys(self.track, keys.values(), self.plate, self._landmarker)
        self.dirty = True

    def unkey(self, body: dict[str, Any]) -> None:
        frame = int(body.get("frame", -1))
        if frame not in self.track.keys:
            raise InputError(f"frame {frame} has no key to remove")
        keys = [k for f, k in self.track.keys.items() if f != frame]
        self.track = apply_keys(self.track, keys, self.plate)
        self.dirty = True

    def _digest(self) -> str:
        try:
            return hashlib.sha256(self.track_path.read_bytes()).hexdigest()
        except OSError:
            return ""

    def save(self) -> None:
        """Write the track where it was read, atomically (temp file + rename); refused when the
        file changed on disk since the editor read or last saved it (analyze run again,
        another editor): saving would throw that work away."""
        if self._digest() != self._on_disk:
            raise InputError(f"{self.track_path}: changed on disk since the editor opened it "
                             "(analyze run again, or another editor saved it); nothing saved: "
                             "reopen the editor on the new track and key again")
        self.track.save(self.track_path)
        self._on_disk = self._digest()
        self.dirty = False

    def frame_jpeg(self, frame: int) -> bytes:
        rgb = self.plate.srgb(frame)
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise InputError(f"frame {frame}: could not encode a preview")
        return data.tobytes()


def make_handler(editor: EditorState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: errors are answered
            pass

        def _send(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, value: Any) -> None:
            self._send(code, json.dumps(value).encode(), "application/json")

        def _ours(self) -> bool:
            """Only pages served by this editor may talk to it: the Host header names this
            server (a rebinding DNS name does not) and a cross-site POST's Origin is ours."""
            port = self.server.server_address[1]
            mine = {f"127.0.0.1:{port}", f"localhost:{port}"}
            if self.headers.get("Host") not in mine:
                return False
            origin = self.headers.get("Origin")
            return origin is None or origin.split("://", 1)[-1] in mine

        def _failed(self, exc: BaseException) -> None:
            """A bug, not a bad request: 500 with one line; the traceback to stderr."""
            traceback.print_exc(file=sys.stderr)
            self._json(500, {"error": f"internal error ({type(exc).__name__}: {exc}); see "
                                      "the terminal running 'doppel track edit'"})

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if not self._ours():
                self._json(403, {"error": "request not from this editor's page"})
                return
            try:
                if self.path in ("/", "/index.html"):
                    self._send(200, (STATIC / "index.html").read_bytes(),
                               "text/html; charset=utf-8")
                elif self.path == "/editor.js":
                    self._send(200, (STATIC / "editor.js").read_bytes(),
                               "text/javascript; charset=utf-8")
                elif self.path == "/api/track":
                    with editor.lock:
                        self._json(200, editor.state())
                elif m := _FRAME.match(self.path):
                    with editor.lock:
                        data = editor.frame_jpeg(int(m.group(1)))
                    self._send(200, data, "image/jpeg")
                else:
                    self._json(404, {"error": f"{self.path}: not found"})
            except DoppelError as exc:
                self._json(400, {"error": str(exc)})
            except Exception as exc:  # noqa: BLE001 - answered, never a dropped connection
                self._failed(exc)

        def do_POST(self) -> None:  # noqa: N802
            if not self._ours():
                self._json(403, {"error": "request not from this editor's page"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                if not isinstance(body, dict):
                    raise InputError("the request body must be a JSON object")
                with editor.lock:
                    if self.path == "/api/key":
                        editor.key(body)
                    elif self.path == "/api/unkey":
                        editor.unkey(body)
                    elif self.path == "/api/save":
                        editor.save()
                    else:
                        self._json(404, {"error": f"{self.path}: not found"})
                        return
                    self._json(200, editor.state())
            except json.JSONDecodeError as exc:
                self._json(400, {"error": f"the request is not JSON ({exc})"})
            except DoppelError as exc:
                self._json(400, {"error": str(exc)})
            except (TypeError, ValueError) as exc:  # a value of the wrong kind in the body
                self._json(400, {"error": f"bad value in the request ({exc})"})
            except Exception as exc:  # noqa: BLE001 - answered, never a dropped connection
                self._failed(exc)

    return Handler


def start(plate: str | Path, track: str | Path, port: int = 0
          ) -> tuple[ThreadingHTTPServer, str]:
    """A running editor server (in a daemon thread) and its address; `server.shutdown()`
    stops it. Refuses (InputError) a plate that is not the track's before serving."""
    editor = EditorState(plate, track)
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(editor))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def serve(plate: str | Path, track: str | Path, port: int = 0, browser: bool = True) -> None:
    """`doppel track edit`: serve until interrupted (Ctrl-C), printing the address."""
    server, url = start(plate, track, port)
    print(f"track editor for {track} on {plate}: {url} (Ctrl-C to stop)", flush=True)
    if browser:
        webbrowser.open(url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("track editor stopped", file=sys.stderr)
    finally:
        server.shutdown()
