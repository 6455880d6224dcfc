# Two commands set up everything from pyproject.toml:
#   make lab    the course in JupyterLab
#   make test   the test suite and the notebooks (root adds the namespace-lab tests)
# and more: make test-e2e (the course in Chromium, Voila, a JupyterHub class), figures,
# demo, html, classroom, bench.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: lab test test-e2e bench figures demo html classroom clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,classroom]'
	touch $(STAMP)

HUB_PROXY = build/classroom-proxy/node_modules/.bin/configurable-http-proxy

# Jupyter refuses to start as root unless told; a classroom server may well be root.
ROOT_FLAG = $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/

# The suite and the notebooks (nbval).  The end-to-end suites in a real browser and on
# JupyterHub are slower and have their own target, which CI runs too.
PYTEST = PORTLAB_PROGRESS=$(CURDIR)/.pytest_cache/progress.json $(BIN)/python -m pytest

test: $(STAMP)
	$(PYTEST) --nbval-lax --nbval-sanitize-with tests/nbval-sanitize.cfg -m "not browser and not hub" tests notebooks

test-e2e: $(STAMP)
	test -x $(HUB_PROXY) || ! command -v npm >/dev/null || \
	  npm install --silent --no-audit --no-fund --prefix build/classroom-proxy configurable-http-proxy@5
	$(PYTEST) -m browser tests
	$(PYTEST) -m hub tests

# Every chart of the course, light and dark, for review.
figures: $(STAMP)
	$(BIN)/python -m portlab.course.figures build/figures

# The instructor's dashboard (Voila, no source cells), on this machine only.
demo: $(STAMP)
	$(BIN)/voila --no-browser --Voila.ip=127.0.0.1 notebooks/demo/dashboard.ipynb

# The course as a static site, executed in simulated mode, into build/html/.
html: $(STAMP)
	$(BIN)/python -m portlab.course.site build/html

# A JupyterHub for a class (run as root on the class's server): docs/instructor.md.
# npm's configurable-http-proxy where npm is installed, else the Python proxy.
classroom: $(STAMP)
	test -x $(HUB_PROXY) || ! command -v npm >/dev/null || \
	  npm install --silent --no-audit --no-fund --prefix build/classroom-proxy configurable-http-proxy@5
	$(BIN)/jupyterhub -f classroom/jupyterhub_config.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache build

# For teachers (docs/teaching/).  The answer key of every exercise, generated from the
# exercises' definitions, into build/answer-key.md.
.PHONY: answer-key wheelhouse install-offline
answer-key: $(STAMP)
	$(BIN)/python -m portlab.course.answerkey build/answer-key.md

# An offline install for a class: on a machine with network, every package the course needs
# (pyproject.toml's dependencies, the classroom extra, the build backend) gathered once into
# build/wheelhouse; rebuilt only when pyproject.toml or the Python changes.
wheelhouse: $(STAMP)
	$(BIN)/python -m portlab.course.wheelhouse build/wheelhouse

# On a class machine with no network, in a copy of the course folder that holds build/wheelhouse.
install-offline:
	@test -f build/wheelhouse/wheelhouse.json || \
	  { echo "no build/wheelhouse here: run 'make wheelhouse' where there is network, then copy the course folder" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-index --find-links build/wheelhouse -e '.[classroom]'
	touch $(STAMP)
