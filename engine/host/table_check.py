"""The parameter table (engine/swap/params.py) held against the settings it feeds: every field of
`EngineConfig`, `SwapLook` and `AnalyzeSettings` has a row with its default, every number a range.
Run by `tools/gen_ofx_params.py --check` (make test) and the gizmo's test.
"""

from __future__ import annotations

from dataclasses import fields

from engine.shot.analyze import AnalyzeSettings
from engine.swap.params import BY_NAME, GROUPS, PARAMS
from engine.swap.settings import EngineConfig, SwapLook


def check_table() -> list[str]:
    """Disagreements between the table and the settings dataclasses (empty: in step)."""
    problems = []
    for cls, target in ((EngineConfig, "config"), (SwapLook, "look")):
        for f in fields(cls):
            p = BY_NAME.get(f.name)
            if p is None:
                problems.append(f"{cls.__name__}.{f.name} has no row in engine/swap/params.py")
            elif p.target != target:
                problems.append(f"{f.name}: target {p.target!r}, expected {target!r}")
            elif p.default != f.default:
                problems.append(f"{f.name}: default {p.default!r} differs from {cls.__name__}'s "
                                f"{f.default!r}")
    for f in fields(AnalyzeSettings):
        p = BY_NAME.get(f.name)
        if p is None:
            problems.append(f"AnalyzeSettings.{f.name} has no row in engine/swap/params.py")
        elif p.default != f.default:
            problems.append(f"{f.name}: default {p.default!r} differs from AnalyzeSettings' "
                            f"{f.default!r}")
    for p in PARAMS:
        if p.kind == "choice" and p.default not in p.choices:
            problems.append(f"{p.name}: default {p.default!r} is not one of its choices")
        if p.group not in GROUPS:
            problems.append(f"{p.name}: group {p.group!r} unknown")
        if p.kind in ("int", "double") and p.range is None:
            problems.append(f"{p.name}: a number without a range")
    return problems
