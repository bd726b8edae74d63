"""FaceEnhancer network and training settings (no torch here: the CLI builds flags from them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from engine.errors import SettingsError


@dataclass(frozen=True)
class EnhancerSpec:
    """The network: `width` channels through `blocks` residual blocks at the input resolution,
    then a ×2 sub-pixel upsample; the output adds to the bicubic ×2 of the input."""

    resolution: int = 96  # the swap model's (input side); the output is 2× it
    width: int = 32
    blocks: int = 4

    def resolved(self) -> EnhancerSpec:
        if not 16 <= self.resolution <= 2048:
            raise SettingsError(f"enhancer resolution must be 16..2048 px, got "
                                f"{self.resolution}")
        if not 4 <= self.width <= 256:
            raise SettingsError(f"enhancer width must be 4..256 channels, got {self.width}")
        if not 1 <= self.blocks <= 32:
            raise SettingsError(f"enhancer blocks must be 1..32, got {self.blocks}")
        return self

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class EnhancerConfig:
    model: str = ""  # the exported swap model (.onnx) the enhancer is for
    faceset: str = ""  # the src faceset, extracted at ≥ 2× the model's resolution
    out: str = ""
    width: int = 32
    blocks: int = 4
    patch: int = 48  # training patch side in model pixels (the target is 2× it); 0 = whole face
    batch_size: int = 8
    lr: float = 5e-4
    grad_weight: float = 1.0  # L1 on image gradients beside L1 on pixels: rewards edges
    degrade: bool = True  # blur, noise and JPEG on the input (robustness)
    synthetic: float = 0.5  # share of inputs that are the target made soft (aligned pairs)
    soften_min: float = 0.6  # Gaussian σ range (model px) of those soft inputs
    soften_max: float = 1.6
    target_iters: int = 3000
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch CPU threads (0 = torch's default)
    save_every: int = 500
    preview_every: int = 250
    log_every: int = 10
    keep_checkpoints: int = 3

    def validate(self) -> EnhancerConfig:
        if not self.model:
            raise SettingsError("enhancer train needs --model (the exported swap model .onnx)")
        if not self.faceset:
            raise SettingsError("enhancer train needs --faceset (the src faceset at 2× the "
                                "model's resolution: doppel extract --size)")
        if not self.out:
            raise SettingsError("enhancer train needs --out (the enhancer's model folder)")
        for name in ("batch_size", "target_iters", "save_every", "preview_every", "log_every",
                     "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise SettingsError(f"enhancer {name} must be ≥ 1, got {getattr(self, name)}")
        if self.patch and not 8 <= self.patch <= 2048:
            raise SettingsError(f"enhancer patch must be 0 or 8..2048 px, got {self.patch}")
        if not 0.0 <= self.synthetic <= 1.0:
            raise SettingsError(f"enhancer synthetic must be within 0..1, got {self.synthetic}")
        if not 0.0 < self.soften_min <= self.soften_max <= 8.0:
            raise SettingsError(f"enhancer soften_min/soften_max must satisfy 0 < min ≤ max ≤ 8 "
                                f"px, got {self.soften_min}, {self.soften_max}")
        if not self.lr > 0 or self.grad_weight < 0 or self.threads < 0:
            raise SettingsError("enhancer lr must be > 0, grad_weight and threads ≥ 0")
        EnhancerSpec(96, self.width, self.blocks).resolved()
        return self

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
