# Two commands on a fresh machine (Python 3.11 and g++ needed):
#   make demo   creates .venv, installs hepfpga with its pinned stack, runs `hepfpga demo`
#   make test   creates .venv if needed, runs ruff and the test suite
PYTHON ?= python3.11
VENV   ?= .venv
PIP     = $(VENV)/bin/pip

.PHONY: demo test lint benchmark clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# numpy<2 in the same command, so the resolver picks matplotlib/scipy built for numpy 1.x
	$(PIP) install --quiet -e '.[test]' 'numpy<2'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/hepfpga demo

test: lint
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile --durations=20  # two processes: one per core

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

benchmark: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/demo_time.py

clean:
	rm -rf $(VENV) hls_projects/demo_jet_tagger
