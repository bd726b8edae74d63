"""Draw engine/'s packages and the imports between them (docs/architecture.svg), from the code.

Every arrow is at least one `import` (lazy ones included) from a module of one package to a module
of another; its label counts the importing modules. Packages sit in rows by layer, so every arrow
points down (tests/engine/test_layering.py fails the build otherwise). `errors` and `types`, which
every package may import, are drawn as one base row without their arrows.

    .venv/bin/python tools/draw_layout.py            # rewrite docs/architecture.svg
    .venv/bin/python tools/draw_layout.py --check    # exit 1 if the drawing is out of date
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = [  # top to bottom; a package imports only packages in rows below it, or its own
    [("host", "the node's Python half, farm jobs"), ("evaluate", "metrics, reports, studies")],
    [("interop", "DeepFaceLab: safe unpickler, aligned JPEGs, faceset import")],
    [("faceset", "extract, store, sort, coverage")],
    [("shot", "analyze, frame layer, render, resume, layers, workers")],
    [("swap", "infer, dfm, mask, colour, blend, pipeline, params, settings")],
    [("geometry", "detect, landmarks, align, pose, smooth, track")],
    [("io", "EXR, video, sequences, colour space, sheets"), ("runtime", "ONNX Runtime, assets")],
    [("errors · types", "one error hierarchy, value types")],
]
CORE = {"errors", "types", "__init__"}
W, BOX_W, BOX_H, ROW_H = 1000, 400, 54, 120


def package_edges() -> dict[tuple[str, str], int]:
    """{(from package, to package): importing modules} over engine/ (core excluded)."""
    edges: dict[tuple[str, str], set[str]] = {}
    for path in sorted((ROOT / "engine").rglob("*.py")):
        parts = path.relative_to(ROOT / "engine").parts
        src = parts[0] if len(parts) > 1 else path.stem
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = ([f"engine.{a.name}" for a in node.names] if node.module == "engine"
                        else [node.module])
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            for m in mods:
                bits = m.split(".")
                if bits[0] != "engine" or len(bits) < 2:
                    continue
                dst = bits[1]
                if dst != src and src not in CORE and dst not in CORE:
                    edges.setdefault((src, dst), set()).add(str(path))
    return {k: len(v) for k, v in sorted(edges.items())}


def svg() -> str:
    pos: dict[str, tuple[float, float]] = {}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" '
           f'height="{len(ROWS) * ROW_H + 40}" font-family="sans-serif" font-size="13">',
           '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/>'
           '</marker></defs>',
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="22" font-size="15" font-weight="bold">engine/: packages and '
           'imports (arrows point down; drawn by tools/draw_layout.py)</text>']
    for r, row in enumerate(ROWS):
        y = 40 + r * ROW_H
        for c, (name, note) in enumerate(row):
            x = W / (2 * len(row)) * (2 * c + 1) - BOX_W / 2
            pos[name] = (x + BOX_W / 2, y)
            fill = "#eef3fb" if name != "errors · types" else "#f3f3f3"
            out.append(f'<rect x="{x:.0f}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
                       f'fill="{fill}" stroke="#345"/>')
            title = ("engine/errors.py · engine/types.py" if name == "errors · types"
                     else f"engine/{name}/")
            out.append(f'<text x="{x + 10:.0f}" y="{y + 22}" font-weight="bold">{title}</text>')
            out.append(f'<text x="{x + 10:.0f}" y="{y + 42}" fill="#444">{note}</text>')
    edges = [e for e in package_edges().items() if e[0][0] in pos and e[0][1] in pos]
    outs = {s: [d for (s2, d), _ in edges if s2 == s] for s in pos}
    ins = {d: [s for (s, d2), _ in edges if d2 == d] for d in pos}

    def spread(names: list[str], name: str) -> float:  # a slot along a box's edge
        return (names.index(name) + 1) / (len(names) + 1) * (BOX_W - 40) - (BOX_W - 40) / 2

    for (src, dst), n in edges:
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        up = y1 < y0
        sy, ey = (y0 + BOX_H, y1) if not up else (y0, y1 + BOX_H)
        sx, ex = x0 + spread(outs[src], dst), x1 + spread(ins[dst], src)
        colour = "#c00" if up else "#555"
        out.append(f'<path d="M{sx:.0f},{sy} C{sx:.0f},{sy + 45} {ex:.0f},{ey - 45} '
                   f'{ex:.0f},{ey}" fill="none" stroke="{colour}" stroke-width="1.2" '
                   f'marker-end="url(#a)"/>')
        out.append(f'<text x="{sx + 3:.0f}" y="{sy + 14}" font-size="10" '
                   f'fill="{colour}">{n}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the drawing is stale")
    ap.add_argument("-o", "--out", default=str(ROOT / "docs" / "architecture.svg"))
    args = ap.parse_args()
    text = svg()
    path = Path(args.out)
    if args.check:
        if not path.is_file() or path.read_text() != text:
            print(f"{path} is out of date: run tools/draw_layout.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
