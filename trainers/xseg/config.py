"""XSeg network and training settings (no torch here: the CLI builds its flags from them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from engine.errors import SettingsError

NORMS = ("batch", "group", "none")


@dataclass(frozen=True)
class XSegSpec:
    resolution: int = 256
    width: int = 24  # channels of the first level; doubled per level, capped at 8×
    depth: int = 0  # 0: chosen from the resolution
    norm: str = "batch"  # batch | group | none

    def resolved(self) -> XSegSpec:
        if not 32 <= self.resolution <= 1024:
            raise SettingsError(f"xseg resolution must be 32..1024 px, got {self.resolution}")
        if not 4 <= self.width <= 128:
            raise SettingsError(f"xseg width must be 4..128 channels, got {self.width}")
        depth = self.depth or max(3, min(6, (self.resolution // 4).bit_length() - 1))
        if self.resolution % (1 << depth):
            raise SettingsError(f"xseg resolution {self.resolution} must be a multiple of "
                                f"{1 << depth} (2^depth, depth {depth})")
        if self.norm not in NORMS:
            raise SettingsError(f"xseg norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        return XSegSpec(self.resolution, self.width, depth, self.norm)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class XSegConfig:
    facesets: list[str] = field(default_factory=list)  # labelled facesets (one face type)
    out: str = ""
    resolution: int = 256
    width: int = 16
    batch_size: int = 8
    lr: float = 5e-4
    lr_cosine: bool = True  # cosine decay to lr/20 at target_iters (steadier last iterations)
    target_iters: int = 20_000
    augment: bool = True
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    save_every: int = 500
    preview_every: int = 250
    log_every: int = 10
    keep_checkpoints: int = 3

    def validate(self) -> XSegConfig:
        if not self.facesets:
            raise SettingsError("xseg train needs at least one labelled faceset")
        if not self.out:
            raise SettingsError("xseg train needs --out (the model folder)")
        for name in ("batch_size", "target_iters", "save_every", "preview_every", "log_every",
                     "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise SettingsError(f"xseg {name} must be ≥ 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise SettingsError(f"xseg lr must be > 0, got {self.lr}")
        self.spec()
        return self

    def spec(self) -> XSegSpec:
        return XSegSpec(self.resolution, self.width).resolved()

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
