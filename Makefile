# The two commands the README opens with:
#   make run   - set up .venv and serve the embedded Ningxiang county (SQLite in var/)
#   make test  - set up .venv and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# The twin (simulated calls and crews driving the service, docs/twin.md) is on unless TWIN=0;
# TWIN_SPEED sets its pace (simulated seconds per second, default 10).
run: $(STAMP)
	$(BIN)/ems geodata info
	$(BIN)/ems serve $(if $(filter 0,$(TWIN)),,--twin --twin-speed $(or $(TWIN_SPEED),10))

test: $(STAMP)
	bash .ci/start-services
	bash .ci/install-browser
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/load_county.py
	$(BIN)/python bench/routing.py

clean:
	rm -rf $(VENV) *.egg-info
