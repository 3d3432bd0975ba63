# Set-up on a fresh machine: `make demo` (main job) and `make test` (tests).
# Both create .venv and install what they need; torch==2.13.0 is pinned so a CPU-only
# machine takes the CPU wheel instead of a multi-GB CUDA build.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
# Triton runs the GPU kernels' tests on CPU through its interpreter (TRITON_INTERPRET=1);
# only the tests need it, so `make demo` does not download it.
TRITON_STAMP := $(VENV)/.triton

.PHONY: demo test test-all lint install clean wheel-check

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[test,data]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/spikeforge demo

$(TRITON_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[triton]"
	touch $(TRITON_STAMP)

test: $(STAMP) $(TRITON_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q -m "not slow"

test-all: $(STAMP) $(TRITON_STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

wheel-check: $(STAMP)
	bash .ci/wheel_check.sh $(BIN)/python

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
