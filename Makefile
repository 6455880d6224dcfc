# Two commands set up everything from pyproject.toml:
#   make lab    the course in JupyterLab
#   make test   the test suite (root adds the namespace-lab tests)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: lab test bench figures clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Jupyter refuses to start as root unless told; a classroom server may well be root.
ROOT_FLAG = $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/

test: $(STAMP)
	PORTLAB_PROGRESS=$(CURDIR)/.pytest_cache/progress.json $(BIN)/python -m pytest --nbval-lax --nbval-sanitize-with notebooks/nbval-sanitize.cfg tests notebooks

# Every chart of the course, light and dark, for review.
figures: $(STAMP)
	$(BIN)/python -m portlab.course.figures build/figures

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache build
