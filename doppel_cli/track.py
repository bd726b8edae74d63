"""`doppel track`: look at a track's weak frames and fix them by hand (docs/track-editing.md).

    doppel track health TRACK [--plate PLATE --sheet suspects.png]
    doppel track fix TRACK --plate PLATE --frames 10-14 (--box x,y,w,h | --no-face |
                     --remove) [--span N]
    doppel track edit PLATE TRACK [--port N] [--no-browser]

Boxes are `x,y,w,h` in the plate's display-window pixels (y down, as the editor shows them).
The track is rewritten atomically in place (it must be a track Doppel wrote).
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="track_command", required=True, metavar="ACTION")
    h = sub.add_parser("health", help="list the frames the tracker may have got wrong",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    h.add_argument("track", help="track file (.json)")
    h.add_argument("--plate", help="plate the track was made on (for --sheet)")
    h.add_argument("--sheet", help="write a contact sheet of the suspect frames (.png/.jpg)")
    h.add_argument("--overwrite", action="store_true",
                   help="replace a file at --sheet that Doppel did not write")
    h.set_defaults(run=run_health)
    f = sub.add_parser("fix", help="key a box or 'no face' on frames (scripted corrections)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    f.add_argument("track", help="track file (.json), rewritten in place")
    f.add_argument("--plate", required=True, help="plate the track was made on")
    f.add_argument("--frames", required=True, help="frames to key (farm syntax: 10-14,20)")
    what = f.add_mutually_exclusive_group(required=True)
    what.add_argument("--box", help="the face is inside x,y,w,h (display-window pixels)")
    what.add_argument("--no-face", action="store_true", help="no face on these frames")
    what.add_argument("--remove", action="store_true",
                      help="remove the keys on these frames (their raw result back)")
    f.add_argument("--span", type=int, default=0,
                   help="frames each side a box key's correction blends into")
    f.set_defaults(run=run_fix)
    e = sub.add_parser("edit", help="open the track editor (a local web page)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("plate", help="plate sequence (plate.####.exr) the track was made on")
    e.add_argument("track", help="track file (.json), saved in place")
    e.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    e.add_argument("--no-browser", action="store_true", help="print the address only")
    e.set_defaults(run=run_edit)


def parse_box(text: str) -> tuple[float, float, float, float]:
    """`x,y,w,h` -> `(x0, y0, x1, y1)`; InputError naming the flag."""
    from engine.errors import InputError

    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--box {text!r}: give x,y,w,h in pixels (e.g. 300,160,260,320)"
                         ) from None
    if w <= 0 or h <= 0:
        raise InputError(f"--box {text!r}: width and height must be positive")
    return (x, y, x + w, y + h)


def _owned_track(path: str):
    from pathlib import Path

    from engine.geometry.track import TRACK_MARK, Track
    from engine.io.ownership import Claims

    Claims([]).file(Path(path), TRACK_MARK)  # a track Doppel wrote, nothing else
    return Track.load(path)


def run_health(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from engine.geometry.track import Track
    from engine.io import write_image
    from engine.io.ownership import Claims, image_metadata
    from engine.shot.track_edit import (
        SHEET_KIND,
        SHEET_MARK,
        PlateFrames,
        check_plate,
        health_report,
        health_sheet,
    )

    if args.sheet:  # the ownership rule, before any work: a new file or a sheet Doppel wrote
        from pathlib import Path

        if not args.plate:
            raise InputError("--sheet needs --plate (the plate the track was made on)")
        Claims([Path(args.track)], args.overwrite).file(Path(args.sheet), SHEET_MARK)
    track = Track.load(args.track)
    health, words = health_report(track)
    print(f"track {args.track}: {len(track.analysed())} frames analysed, {len(health)} suspect"
          + (f": {words}" if words else ""))
    if track.keys:
        from engine.io import format_frame_range

        print(f"  keyed by hand: {format_frame_range(track.keys)}")
    if args.sheet:
        if health:
            plate = PlateFrames.open(args.plate)
            check_plate(track, plate, args.track)
            sheet = health_sheet(track, plate, health)
            write_image(args.sheet, sheet.astype("float32") / 255.0,
                        metadata=image_metadata(SHEET_KIND))
            print(f"  sheet: {args.sheet}")
    return 0


def run_fix(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from engine.io import format_frame_range, parse_frame_range
    from engine.shot.track_edit import PlateFrames, check_plate, fix_frames, remove_keys

    frames = parse_frame_range(args.frames)
    box = parse_box(args.box) if args.box else None
    if args.span < 0:
        raise InputError(f"--span {args.span}: give 0 or more frames")
    track = _owned_track(args.track)
    plate = PlateFrames.open(args.plate)
    check_plate(track, plate, args.track)
    outside = [f for f in frames if f not in track.analysed()]
    if outside:
        raise InputError(f"--frames: {format_frame_range(outside)} not analysed in "
                         f"{args.track}; key only analysed frames (nothing was written)")
    if args.remove:
        track = remove_keys(track, frames, plate)
        what = "removed keys"
    else:
        track = fix_frames(track, plate, frames, "box" if box else "noface", box, args.span)
        what = "box" if box else "no face"
    track.save(args.track)
    print(f"track fix {args.track}: {what} on {format_frame_range(frames)}"
          f" (keys now: {format_frame_range(track.keys) or 'none'})")
    return 0


def run_edit(args: argparse.Namespace) -> int:
    from engine.host.track_editor.server import serve

    _owned_track(args.track)
    serve(args.plate, args.track, port=args.port, browser=not args.no_browser)
    return 0
