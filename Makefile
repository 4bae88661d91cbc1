# The two commands a new user needs:
#   make demo   run Herald's main job on embedded defaults
#   make test   run the checks and the tests
# Each creates .venv and installs what it needs on its own.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint typecheck crds clean

$(STAMP): pyproject.toml
	@PYTHON=$(PYTHON) tools/ensure-python.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	@tools/ensure-redis.sh
	$(BIN)/herald demo

test: $(STAMP) lint typecheck
	@tools/ensure-redis.sh
	$(BIN)/python -m crds.generate --check
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy crds controllers sender herald tests

crds: $(STAMP)
	$(BIN)/python -m crds.generate

clean:
	rm -rf $(VENV) build *.egg-info
