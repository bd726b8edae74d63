"""The `Example:` sections in the public geometry, colour, mask, blend and frame-range docstrings
run as doctests, so the documented shapes, dtypes and values stay true.

Each module lists the public names that must carry an example: deleting one (or all of a
module's) fails here, as does any example whose output no longer matches.
"""

import doctest
import importlib

import pytest

# module -> public functions (and `Class.method`s) whose docstrings must hold a `>>>` example
DOCUMENTED = {
    "engine.geometry.align": [
        "face_type", "umeyama", "invert_similarity", "transform_points", "canonical_to_crop",
        "align_matrix", "crop_read_box", "warp_to_crop", "roi_matrix", "crop_roi",
        "warp_from_crop", "mirror_landmarks", "mean_face",
    ],
    "engine.geometry.pose": ["estimate_pose", "mean_shape_3d"],
    "engine.geometry.smooth": ["face_scale", "smooth_landmarks"],
    "engine.io.colorspace": [
        "srgb_to_linear", "linear_to_srgb", "to_display_uint8", "SrgbTransfer.to_model",
        "SrgbTransfer.to_linear",
    ],
    "engine.swap.color_transfer": [
        "rct", "rct_local", "lct", "mkl", "hist_match", "idt", "sot", "mix", "color_transfer",
        "rct_dfl", "idt_dfl", "sot_dfl", "mix_dfl",
    ],
    "engine.swap.mask": [
        "hull_points", "hull_mask", "eyes_mask", "mouth_mask", "parse_mask_mode",
        "combine_masks", "refine_mask",
    ],
    "engine.swap.blend": [
        "overlay", "overlay_into", "seamless", "sharpen", "motion_blur", "check_blend_mode",
    ],
    "engine.swap.enhance": ["upscale", "scaled_matrix"],
    "engine.evaluate.closeups": ["region_box"],
    "engine.io.frames": ["parse_frame_range"],
    "engine.geometry.fingerprint": ["thumbnail", "covered"],
}

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    with_examples = {
        t.name.removeprefix(f"{name}.")
        for t in doctest.DocTestFinder().find(module)
        if t.examples
    }
    missing = sorted(set(DOCUMENTED[name]) - with_examples)
    assert not missing, f"{name}: no docstring example for {', '.join(missing)}"
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False, report=True)
    assert result.failed == 0, f"{name}: {result.failed} doctest example(s) failed (see stdout)"
    assert result.attempted >= len(DOCUMENTED[name])
