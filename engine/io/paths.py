"""Paths read from files (faceset entries, track sources) must stay inside their folder.

An index is data a user (or a script, or an attacker) may edit: an entry `"../victim.txt"` or an
absolute path must never make Doppel read, overwrite or delete a file outside the folder that
holds the index. Every such path goes through `inside`, which resolves symlinks and `..` first.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import InputError


def inside(folder: str | os.PathLike[str], relative: object, where: str) -> Path:
    """`folder / relative`, resolved, or InputError if it is not a relative path inside `folder`.

    `where` names the file and field the path came from (e.g. `faceset.json: faces[3].file`).
    """
    if not isinstance(relative, str) or not relative:
        raise InputError(f"{where}: expected a relative file path, got {relative!r}")
    if os.path.isabs(relative) or "\0" in relative:
        raise InputError(f"{where}: path {relative!r} must be relative to {folder}; "
                         "fix or regenerate the file")
    root = Path(folder).resolve()
    full = (root / relative).resolve()
    if full != root and root not in full.parents:
        raise InputError(f"{where}: path {relative!r} leads outside {root}; refusing to use it "
                         "(fix or regenerate the file)")
    return full
