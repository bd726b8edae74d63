# Doppel: two commands on a fresh machine.
#   make demo   set up .venv, fetch the sample media, run the main job (out/demo/)
#   make test   set up .venv, fetch the sample media, build the OFX plugin, run the test suite
#   make plugin build the FaceSwap OFX bundle into build/FaceSwap.ofx.bundle (see docs/node.md)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.doppel-installed
SAMPLES := samples/.complete
# CPU machines take the CPU build of torch that the registry mirror carries; CUDA machines the
# default (CUDA) build.
TORCH := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo 'torch>=2.4' || echo 'torch==2.13.0')
PYTEST_ARGS ?=
BUILD ?= build
# Our C++ (the vendored OFX headers under host_plugin/ofx/ keep their own style).
CXX_SOURCES := bridge/bridge.cpp bridge/bridge.h host_plugin/faceswap.cpp tests/ofx_host/host.cpp
CMAKE_GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo '-G Ninja')

.PHONY: all browser setup samples demo demo-model demo-enhancer demo-model-carphone test lint bench clean plugin quality quality-carphone quality-cap13 quality-new-actor format tsan
all: test

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check '$(TORCH)'
	$(PIP) install -q --disable-pip-version-check -e '.[train,dev]'
	touch $@

samples: $(SAMPLES)

$(SAMPLES): $(STAMP) doppel_cli/sample_media.py
	$(PY) -m doppel_cli samples --dest samples

demo: $(SAMPLES)
	$(PY) -m doppel_cli demo --samples samples --out out/demo

# The plugin embeds the venv's Python (its version is the plugin's) and records the venv in
# the bundle's Contents/Resources/doppel.cfg.
plugin: $(STAMP)
	cmake -S . -B $(BUILD) $(CMAKE_GENERATOR) -DCMAKE_BUILD_TYPE=Release \
	    -DPython3_EXECUTABLE=$(abspath $(PY))
	cmake --build $(BUILD) --parallel 2

# The plugin, the bridge and the test host built with ThreadSanitizer (build-tsan/), and the
# plugin's threading test under it (tests/host_plugin/test_tsan.py; suppressions for the
# uninstrumented OpenCV and ONNX Runtime thread pools in tests/host_plugin/tsan.supp). A few
# minutes on 2 cores.
TSAN_BUILD ?= build-tsan
tsan: $(SAMPLES)
	cmake -S . -B $(TSAN_BUILD) $(CMAKE_GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DDOPPEL_TSAN=ON -DPython3_EXECUTABLE=$(abspath $(PY))
	cmake --build $(TSAN_BUILD) --parallel 2
	DOPPEL_TSAN_BUILD=$(abspath $(TSAN_BUILD)) $(PY) tools/run_pytest.py -m slow \
	    tests/host_plugin/test_tsan.py

# Debian's Chromium and its driver for the track editor's browser test
# (tests/engine/test_track_editor_browser.py; Selenium comes with the dev extra).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	command -v chromium >/dev/null && test -x /usr/bin/chromedriver || \
	    ($(SUDO) apt-get update && \
	     DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium chromium-driver)

test: $(SAMPLES) plugin browser
	$(PY) -m ruff check engine trainers tests benchmarks tools doppel_cli
	$(VENV)/bin/clang-format --dry-run --Werror $(CXX_SOURCES)
	$(PY) tools/gen_ofx_params.py --gizmo gizmos/FaceSwap.gizmo --check
	$(PY) tools/run_pytest.py $(PYTEST_ARGS)

format: $(STAMP)
	$(VENV)/bin/clang-format -i $(CXX_SOURCES)

bench: $(SAMPLES)
	$(PY) benchmarks/extract.py
	$(PY) benchmarks/render.py
	$(PY) benchmarks/resume_check.py
	$(PY) benchmarks/train.py

clean:
	rm -rf out build $(TSAN_BUILD) .pytest_cache .ruff_cache

# Rebuild the main demo model (franck's face for the cap12 plate; about 2 h on a 2-core CPU
# without native bf16, most of it training; 1 h where bf16 runs natively): extract every second
# frame of franck.mp4 (consecutive frames at 24 fps are near duplicates), prune it (blur,
# identity, colour, near-duplicates; report in the clean faceset), extract the plate's face,
# report the pose coverage, train (stage 1: 4,500 iterations; stage 2: 14,000 more from it),
# export with the dst decoder's reconstruction and its fit statistics (docs/training.md).
DEMO_MODEL := models/demo_franck_df-ud_96.onnx
DM := out/demo_model
demo-model: $(SAMPLES)
	$(PY) -m doppel_cli extract samples/clip/franck.mp4 -o $(DM)/faceset_franck --size 128 --select track --frames 1-4800x2 --quiet
	test -f $(DM)/faceset_franck_clean/faceset.json || $(PY) -m doppel_cli faceset prune $(DM)/faceset_franck -o $(DM)/faceset_franck_clean --quiet
	$(PY) -m doppel_cli extract samples/plate_cap12/cap12.####.exr -o $(DM)/faceset_cap12 --size 128 --select track --smooth 2 --quiet
	$(PY) -m doppel_cli faceset coverage $(DM)/faceset_franck_clean $(DM)/faceset_cap12 -o $(DM)/coverage.png --report $(DM)/coverage.md --require 0.95
	$(PY) -m doppel_cli train -c configs/demo_franck.yaml --resume
	$(PY) -m doppel_cli train -c configs/demo_franck_stage2.yaml --resume
	$(PY) -m doppel_cli export $(DM)/train_franck_stage2 -o $(DEMO_MODEL) --src-name franck --dst-name cap12

# The main demo model's FaceEnhancer (models/demo_franck_enhancer_192.onnx; about 20 min on a
# 2-core CPU shared with other work): franck's faces at 192 px = 2x the model's 96 (every eighth
# frame of franck.mp4), pairs (the model's reconstruction, the face at 192), train on one thread,
# export (its metadata names the demo model's digest; docs/enhancer.md).
DEMO_ENHANCER := models/demo_franck_enhancer_192.onnx
demo-enhancer: $(SAMPLES)
	$(PY) -m doppel_cli extract samples/clip/franck.mp4 -o $(DM)/faceset_franck192 --size 192 --select track --frames 1-4800x8 --quiet
	$(PY) -m doppel_cli enhancer train --model $(DEMO_MODEL) --faceset $(DM)/faceset_franck192 -o $(DM)/enhancer_franck --batch-size 16 --target-iters 2000 --threads 1 --resume --quiet
	$(PY) -m doppel_cli enhancer export $(DM)/enhancer_franck -o $(DEMO_ENHANCER)

# The small, fast pair's model (models/demo_df-ud_96.onnx, about 30-40 min): three Obama photos
# for the carphone plate.
demo-model-carphone: $(SAMPLES)
	mkdir -p $(DM)/obama && cp samples/photos/obama*.jpg $(DM)/obama/
	$(PY) -m doppel_cli extract $(DM)/obama -o $(DM)/faceset_src --size 128 --quiet
	$(PY) -m doppel_cli extract samples/plate/plate.####.exr -o $(DM)/faceset_dst --size 128 --select track --smooth 2 --quiet
	$(PY) -m doppel_cli train -c configs/demo.yaml --resume
	$(PY) -m doppel_cli export $(DM)/train -o models/demo_df-ud_96.onnx --src-name obama --dst-name carphone

# The quality report (docs/quality.md): the sample shot rendered with the demo model in every
# colour mode, the baselines, one evaluation of them all (about 30 min on a 2-core CPU).
quality: $(SAMPLES)
	$(PY) -m doppel_cli quality --samples samples --out out/quality --doc docs/quality.md

# A new shot of the plate actor (docs/quality_cap13.md): the main demo model on the cap13 plate,
# which it was not trained on, with its checks (docs/new-shot.md; a few minutes).
quality-cap13: $(SAMPLES)
	$(PY) -m doppel_cli quality --plate samples/plate_cap13/cap13.####.exr --modes rct --sharpen-sweep '' --enhancer '' --out out/quality_cap13 --doc docs/quality_cap13.md --quiet

# A new plate actor (docs/quality_new_actor.md): the main demo model fine-tuned on the carphone
# plate's faces from its shipped .onnx (configs/new_actor_carphone.yaml), exported, judged
# (docs/new-shot.md; about 15 min where bf16 runs natively). Needs make demo-model's franck faceset.
NA := out/new_actor
quality-new-actor: $(SAMPLES)
	test -f $(DM)/faceset_franck_clean/faceset.json || (echo "run 'make demo-model' first (franck's faceset)" && exit 2)
	$(PY) -m doppel_cli extract samples/plate/plate.####.exr -o $(NA)/faceset_carphone --size 128 --select track --smooth 2 --quiet
	$(PY) -m doppel_cli train -c configs/new_actor_carphone.yaml --resume --quiet
	$(PY) -m doppel_cli export $(NA)/train -o $(NA)/franck_carphone.onnx --src-name franck --dst-name carphone
	$(PY) -m doppel_cli extract samples/photos/franck -o $(NA)/faceset_franck_stills --size 128 --quiet
	$(PY) -m doppel_cli quality --pair carphone --model $(NA)/franck_carphone.onnx --faceset $(NA)/faceset_franck_stills --modes rct --sharpen-sweep '' --enhancer '' --out $(NA)/quality --doc docs/quality_new_actor.md --quiet

# The small pair's report (docs/quality_carphone.md; about 30 min on a 2-core CPU).
quality-carphone: $(SAMPLES)
	$(PY) -m doppel_cli quality --pair carphone --samples samples --out out/quality_carphone --doc docs/quality_carphone.md
