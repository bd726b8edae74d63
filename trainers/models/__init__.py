"""Face-swap model families and their registered variants.

A variant name is `<family>[-<letters>]`, e.g. `df`, `df-ud`, `liae-udt`, `dfhd`, `liaehd-c`,
`quick96`. `df` and `liae` have DeepFaceLab's SAEHD layer shapes (parameter counts per module
equal DFL's at the same dims); `dfhd`/`liaehd` are Doppel's: the same networks with two
residual blocks wherever DFL has one (DFL's current release has no HD families). Letters
(DeepFaceLab's architecture options):
    u  pixel-norm of the flattened encoder output
    d  double output resolution at little cost (four sub-pixel RGB heads and one more mask
       upscale; the bottleneck and decoder run at half resolution)
    t  one more downscale in the encoder (residual blocks after its first and last), no
       upscale in the inter, one more decoder stage
    c  x·cos x activation instead of LeakyReLU
Every model maps `N×3×R×R` in [0, 1] to (rgb, mask) per decoder: `model(src, dst)` gives the
two reconstructions and the swap (`swap=False` leaves the swap out, for training steps), and
`swap(dst)` the dst face rendered as src plus the masks the engine needs (DESIGN.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from engine.errors import SettingsError

FAMILIES = ("df", "liae", "dfhd", "liaehd")
LETTERS = "udtc"


@dataclass(frozen=True)
class ModelSpec:
    """Architecture hyper-parameters, all that is needed to rebuild a model."""

    arch: str = "df-ud"
    resolution: int = 128
    ae_dims: int = 256
    e_dims: int = 64
    d_dims: int = 64
    mask_dims: int = 22

    @property
    def family(self) -> str:
        return self.arch.split("-")[0]

    @property
    def letters(self) -> str:
        return self.arch.split("-")[1] if "-" in self.arch else ""

    def validate(self) -> ModelSpec:
        fam, letters = self.family, self.letters
        if fam not in FAMILIES:
            raise SettingsError(f"arch {self.arch!r}: family {fam!r} unknown; use one of "
                                f"{', '.join(FAMILIES)} (or 'quick96')")
        bad = [c for c in letters if c not in LETTERS]
        if bad or len(set(letters)) != len(letters):
            raise SettingsError(f"arch {self.arch!r}: letters must be a subset of "
                                f"'{LETTERS}' without repeats")
        # -d halves the bottleneck, -t adds an encoder halving: both need R/32 whole
        step = 32 if "d" in letters or "t" in letters else 16
        if not 64 <= self.resolution <= 512 or self.resolution % step:
            raise SettingsError(f"resolution {self.resolution} must be 64..512 and a multiple "
                                f"of {step} for arch {self.arch!r}")
        for name in ("ae_dims", "e_dims", "d_dims", "mask_dims"):
            if getattr(self, name) < 2:
                raise SettingsError(f"{name} must be ≥ 2, got {getattr(self, name)}")
        return self


PRESETS = {
    # DeepFaceLab's Quick96: DF, 96 px, full face, small dims.
    "quick96": ModelSpec("df-ud", 96, 128, 64, 64, 16),
}

VARIANTS = tuple(
    [f"{fam}{'-' + suf if suf else ''}" for fam in FAMILIES
     for suf in ("", "u", "d", "ud", "t", "udt", "c", "udtc")] + list(PRESETS)
)


def resolve_spec(arch: str, **overrides: int) -> ModelSpec:
    """A validated spec for a variant name, with dims overridden where given."""
    base = PRESETS.get(arch, ModelSpec(arch=arch))
    fields = {k: v for k, v in overrides.items() if v is not None}
    return replace(base, **fields).validate()


def build_model(spec: ModelSpec):
    """Instantiate the torch module for a spec."""
    spec.validate()
    if spec.family in ("df", "dfhd"):
        from trainers.models.df import DFModel

        return DFModel(spec)
    from trainers.models.liae import LIAEModel

    return LIAEModel(spec)
