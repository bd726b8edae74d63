"""Ownership: a run writes only to paths it owns (DESIGN.md §4), the one rule of every writer.

A path is this run's to write when it is
1. new (nothing there), or
2. a file carrying Doppel's mark for the same kind (`Mark`: EXR/PNG metadata, a JSON file's
   schema and keys, a text file's first line, ...); for a folder of outputs (`FolderMark`): an
   empty folder, or one holding the index file that marks it;
and, whatever else holds, it is never one of the run's inputs nor inside an input folder.
`overwrite` (`--overwrite`) lifts rule 2 for files (a foreign file is replaced), never the inputs
rule, and a folder is never replaced by a file nor a file by a folder.

Every command and the node claim all of their outputs (`Claims.file`, `Claims.folder`) before
the first write, so a refused run writes nothing; the error is one line naming the file and how
to go on (`hint`: `--overwrite` for the CLI, the parameter for the node). Marks read at most a
file's header (or a small JSON index), so a claim costs a `stat` for a new path and well under a
millisecond for an existing one (benchmarks/ownership.py).

Marks are data: each writer declares its kind's mark beside its format (a track's in
engine/geometry/track.py, a faceset's in engine/faceset/store.py); this module only applies them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import OutputError

OVERWRITE_HINT = "choose another output, or pass --overwrite to replace it"
HEAD_BYTES = 4096  # what a text mark reads of a file


@dataclass(frozen=True)
class Mark:
    """How a file of one `kind` shows that Doppel wrote it: `test(path)` reads its head.

    `test` must not raise for a foreign or damaged file (it says False)."""

    kind: str
    test: Callable[[Path], bool]

    def matches(self, path: Path) -> bool:
        try:
            return bool(self.test(path))
        except Exception:  # noqa: BLE001 - any reader's failure: a file we cannot read as ours
            return False


def json_mark(kind: str, *keys: str, schema: str = "schema") -> Mark:
    """A JSON object holding `schema` and every key of `keys` (a track, a faceset index)."""
    want = (schema, *keys)

    def test(path: Path) -> bool:
        with open(path, "rb") as fh:
            if fh.read(1).lstrip() not in (b"{", b""):
                return False
            fh.seek(0)
            data = json.load(fh)
        return isinstance(data, dict) and all(k in data for k in want)

    return Mark(kind, test)


def text_mark(kind: str, *prefixes: str) -> Mark:
    """A text file whose first bytes are one of `prefixes` (the header line Doppel writes)."""
    encoded = tuple(p.encode("utf-8") for p in prefixes)
    longest = max(len(p) for p in encoded)

    def test(path: Path) -> bool:
        with open(path, "rb") as fh:
            head = fh.read(max(longest, 1))
        return any(head.startswith(p) for p in encoded)

    return Mark(kind, test)


IMAGE_KIND = "doppel/kind"  # the image attribute (PNG text chunk, EXR header) naming the kind


def image_mark(kind: str, attribute: str = IMAGE_KIND) -> Mark:
    """An image whose header holds `attribute` (`doppel/kind` = `kind` unless another
    attribute is named: then its presence is the mark, e.g. a render's `doppel/engine`)."""
    def test(path: Path) -> bool:
        import OpenImageIO as oiio

        inp = oiio.ImageInput.open(str(path))
        if inp is None:
            oiio.geterror()
            return False
        try:
            value = inp.spec().getattribute(attribute)
        finally:
            inp.close()
        return value == kind if attribute == IMAGE_KIND else value is not None

    return Mark(kind, test)


def image_metadata(kind: str) -> dict[str, str]:
    """The metadata that gives an image written by Doppel the mark `image_mark(kind)`."""
    return {IMAGE_KIND: kind}


@dataclass(frozen=True)
class FolderMark:
    """A folder of outputs: Doppel's when empty or when `index` (a path inside it) carries
    `mark` (a faceset's `faceset.json`, an evaluation's `summary.csv`); `also` are further index
    files any one of which marks it (an interrupted run's cache)."""

    kind: str
    index: str
    mark: Mark
    also: tuple[tuple[str, Mark], ...] = ()

    def owns(self, folder: Path) -> bool:
        for name, mark in ((self.index, self.mark), *self.also):
            if (folder / name).is_file() and mark.matches(folder / name):
                return True
        return False


def _resolved(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(os.fspath(path)))


@dataclass
class Claims:
    """One run's claims on its outputs: every output checked against the rule (module doc)
    before the first write. `inputs`: files and folders the run reads (never written, nor
    anything inside a folder of them); `overwrite`: replace foreign files; `hint`: how to go on,
    ending every refusal."""

    inputs: Iterable[str | os.PathLike[str]] = ()
    overwrite: bool = False
    hint: str = OVERWRITE_HINT
    _files: set[Path] = field(default_factory=set, init=False, repr=False)
    _folders: list[Path] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.add_inputs(self.inputs)

    def add_inputs(self, inputs: Iterable[str | os.PathLike[str]]) -> None:
        for p in inputs:
            r = _resolved(p)
            (self._folders.append(r) if r.is_dir() else self._files.add(r))

    def input_holding(self, path: str | os.PathLike[str]) -> Path | None:
        """The input `path` is, or lies inside (None: it is none of them)."""
        r = _resolved(path)
        if r in self._files:
            return r
        for folder in self._folders:
            if r == folder or folder in r.parents:
                return folder
        return None

    def not_an_input(self, path: Path, what: str) -> None:
        holder = self.input_holding(path)
        if holder is not None:
            where = ("would overwrite the input" if holder == _resolved(path)
                     else f"would be written inside the input folder {holder}")
            raise OutputError(f"{path}: this {what} {where}; a run never writes into its own "
                              "inputs; choose an output elsewhere")

    def file(self, path: str | os.PathLike[str], mark: Mark) -> Path:
        """Claim the file `path` for a `mark.kind`; returns it. Raises OutputError (one line)
        for an input, a folder there, or a file of another kind or not Doppel's (unless
        `overwrite`)."""
        path = Path(path)
        self.not_an_input(path, mark.kind)
        if path.is_dir():
            raise OutputError(f"{path}: is a folder, expected the {mark.kind} file; give a "
                              "file name")
        if path.parent.exists() and not path.parent.is_dir():
            raise OutputError(f"{path}: {path.parent} is a file, not a folder; choose another "
                              "output")
        if path.exists() and not self.overwrite and not mark.matches(path):
            raise OutputError(f"{path}: exists and is not Doppel's {mark.kind}; refusing to "
                              f"replace it ({self.hint})")
        return path

    def folder(self, path: str | os.PathLike[str], mark: FolderMark) -> Path:
        """Claim the folder `path` for a `mark.kind`: new, empty, or marked by its index
        (unless `overwrite`). Files inside are then the writer's to claim or replace."""
        path = Path(path)
        self.not_an_input(path, mark.kind)
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path}: is a file, not a folder (expected the {mark.kind} "
                              "folder); choose another output")
        if path.is_dir() and not self.overwrite and any(path.iterdir()) \
                and not mark.owns(path):
            raise OutputError(f"{path}: folder holds files but is not Doppel's {mark.kind} (no "
                              f"{mark.index} of it); refusing to write into it "
                              f"({self.hint.replace('replace it', 'write into it')})")
        return path
