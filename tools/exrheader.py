"""Print an image's header as `exrheader` would: windows, pixel aspect, channels, attributes.

    python tools/exrheader.py out/swap.1001.exr

Reads the header only, through OpenImageIO (the same library that writes Doppel's outputs).
"""

from __future__ import annotations

import sys

import OpenImageIO as oiio


def header_lines(path: str) -> list[str]:
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise SystemExit(f"{path}: cannot open ({oiio.geterror().strip()})")
    spec = inp.spec()
    inp.close()
    x1, y1 = spec.x + spec.width - 1, spec.y + spec.height - 1
    fx1, fy1 = spec.full_x + spec.full_width - 1, spec.full_y + spec.full_height - 1
    lines = [
        f"file {path}:",
        f"dataWindow (box2i): ({spec.x} {spec.y}) - ({x1} {y1})",
        f"displayWindow (box2i): ({spec.full_x} {spec.full_y}) - ({fx1} {fy1})",
        f"pixelAspectRatio (float): {spec.getattribute('PixelAspectRatio') or 1.0}",
        f"channels: {', '.join(spec.channelnames)} ({spec.format})",
    ]
    for a in spec.extra_attribs:
        if a.name != "PixelAspectRatio":
            lines.append(f"{a.name} ({a.type}): {a.value}")
    return lines


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print("\n".join(header_lines(arg)))
