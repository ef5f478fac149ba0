# Two entry points: `make demo` and `make test`. Each sets itself up from a fresh clone.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TOOLS  := .tools
OUT    ?= out/demo

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	# torch first, pinned to the CPU build on machines that have its wheel locally; on a GPU machine
	# install the CUDA build of your choice before running make.
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

# The Khronos glTF validator (npm) for the export tests; skipped quietly where node is missing.
$(TOOLS)/node_modules/gltf-validator:
	-command -v npm >/dev/null && npm install --silent --prefix $(TOOLS) gltf-validator

test: $(STAMP) $(TOOLS)/node_modules/gltf-validator
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks

# Stylise the bundled Spot mesh offline (weight-free patch backbone); results in $(OUT).
demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/restyle mesh assets/meshes/spot/spot.obj \
		-s assets/styles/vangogh_starry_night.jpg -o $(OUT) --config examples/demo_cpu.toml
	@echo "demo results: $(OUT)/ (spot_stylized.glb, obj/, before_after.png, turntable.gif)"

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(TOOLS) out
