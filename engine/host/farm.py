"""Farm jobs from a node: an OpenJD job bundle that renders the node's frame range headless.

The bundle (`template.yaml` + `parameter_values.yaml`, the layout AWS Deadline Cloud's `deadline
bundle submit` takes; any OpenJD runner reads the template) bakes every swap setting of the node
into the `doppel render` command line, names the node's track file, and asks for 32-bit float
EXRs: the node hands the host float pixels, so a float file is what matches it bit for bit.
Chunks are the Render step's task parameter (`farm/README.md`). Both files start with the
node's header line, Doppel's mark (engine.io.ownership): a file there without it (a template
or values the user wrote) is never replaced.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from engine.errors import SettingsError
from engine.io.atomic import atomic_write_text
from engine.io.ownership import Claims, text_mark
from engine.io.sequence import SequencePattern
from engine.swap.settings import values_to_settings

HEADER = "# Written by the Doppel FaceSwap node (Send to farm)"
TEMPLATE_MARK = text_mark("farm job template", HEADER)
VALUES_MARK = text_mark("farm job parameter values", HEADER)


def render_args(values: dict[str, Any]) -> list[str]:
    """`doppel render` flags for every swap setting of `values` (validated on the way)."""
    config, look = values_to_settings(values)
    from engine.swap.settings import SwapSettings

    args: list[str] = []
    for name, value in SwapSettings(config, look).to_dict().items():
        flag = "--view" if name == "output" else "--" + name.replace("_", "-")
        if name in ("model", "xseg", "enhancer", "ocio_config") and value:
            value = str(Path(value).resolve())
        args += [flag, str(value)]
    return args


def _need(values: dict[str, Any], name: str, label: str, what: str) -> str:
    value = str(values.get(name) or "")
    if not value:
        raise SettingsError(f"{label}: empty; set {what}")
    return value


def write_node_job(values: dict[str, Any], first: int, last: int,
                   doppel: str | None = None) -> Path:
    """Write the bundle into the node's `farm_job` folder; returns it. Refuses a node without
    a track (the farm must not re-detect: the same track is what makes the same pixels)."""
    plate = _need(values, "farm_plate", "Plate on the farm", "the plate pattern as the farm "
                  "sees it (plate.####.exr)")
    output = _need(values, "farm_output", "Output on the farm", "the output pattern "
                   "(swap.####.exr)")
    folder = Path(_need(values, "farm_job", "Job folder", "a folder for the job bundle"))
    track = _need(values, "track_file", "Track file", "it and press Analyze before sending "
                  "to the farm")
    for label, pattern in (("Plate on the farm", plate), ("Output on the farm", output)):
        if not SequencePattern.is_pattern(pattern):
            raise SettingsError(f"{label}: {pattern!r} has no frame number; use a pattern "
                                "like name.####.exr")
    if not output.lower().endswith(".exr"):
        raise SettingsError(f"Output on the farm: {output!r}; the farm writes EXR (.exr)")
    if last < first:
        raise SettingsError(f"frame range {first}-{last} is empty")
    chunk = int(values.get("farm_chunk") or 10)
    if chunk < 1:
        raise SettingsError(f"Chunk size must be ≥ 1, got {chunk}")
    if folder.exists() and not folder.is_dir():
        raise SettingsError(f"Job folder: {folder} is a file; give a folder")
    claims = Claims([Path(track)], hint="pick another Job folder, or delete that file")
    claims.file(folder / "template.yaml", TEMPLATE_MARK)
    claims.file(folder / "parameter_values.yaml", VALUES_MARK)
    exe = doppel or str(Path(sys.prefix) / "bin" / "doppel")
    args = ["render", "{{Param.Plate}}", "-o", "{{Param.Output}}", "--track", "{{Param.Track}}",
            "--frames", "{{Param.FrameStart}}-{{Param.FrameEnd}}",
            "--chunk-start", "{{Task.Param.ChunkStart}}", "--chunk-size", "{{Param.ChunkSize}}",
            "--float", "--quiet", *render_args(values)]
    template = {
        "specificationVersion": "jobtemplate-2023-09",
        "name": "Doppel FaceSwap node {{Param.FrameStart}}-{{Param.FrameEnd}}",
        "parameterDefinitions": [
            {"name": "Plate", "type": "STRING", "default": plate},
            {"name": "Output", "type": "STRING", "default": output},
            {"name": "Track", "type": "STRING", "default": str(Path(track).resolve())},
            {"name": "FrameStart", "type": "INT", "default": int(first)},
            {"name": "FrameEnd", "type": "INT", "default": int(last)},
            {"name": "ChunkSize", "type": "INT", "default": chunk, "minValue": 1},
            {"name": "Doppel", "type": "STRING", "default": exe},
        ],
        "steps": [{
            "name": "Render",
            "parameterSpace": {"taskParameterDefinitions": [{
                "name": "ChunkStart", "type": "INT",
                "range": "{{Param.FrameStart}}-{{Param.FrameEnd}}:{{Param.ChunkSize}}"}]},
            "script": {"actions": {"onRun": {"command": "{{Param.Doppel}}", "args": args}}},
        }],
    }
    folder.mkdir(parents=True, exist_ok=True)
    header = f"{HEADER}: the node's settings and track, baked in.\n"
    atomic_write_text(folder / "template.yaml",
                      header + yaml.safe_dump(template, sort_keys=False, width=100))
    atomic_write_text(folder / "parameter_values.yaml", f"{HEADER}: parameter values.\n"
                      + yaml.safe_dump({"parameterValues": [
        {"name": "Plate", "value": plate}, {"name": "Output", "value": output},
        {"name": "FrameStart", "value": int(first)}, {"name": "FrameEnd", "value": int(last)},
    ]}, sort_keys=False))
    return folder
