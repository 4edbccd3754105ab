# The README's commands. Each target sets up .venv when it is missing or stale.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PLUGINS := $(wildcard plugins/*/pyproject.toml)
NODEPS  := $(wildcard plugins/*/requirements-nodeps.txt)
STAMP   := $(VENV)/.installed

.PHONY: setup run test test-fast docs bench ui clean

$(STAMP): pyproject.toml $(PLUGINS) $(NODEPS)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: the CPU wheel; nothing below may pull a CUDA build
	$(BIN)/pip install -q torch==2.13.0
	for f in $(NODEPS); do $(BIN)/pip install -q --no-deps -r $$f || exit 1; done
	$(BIN)/pip install -q torch==2.13.0 -e ".[test,docs]" $(foreach p,$(dir $(PLUGINS)),-e ./$(p))
	touch $(STAMP)

setup: $(STAMP)

# the headline job: tune the cgmap plugin on its embedded defaults
run: $(STAMP)
	$(BIN)/sciml run cgmap --tune

# the toy plugin under tests/ is a third-party plugin installed the way users install plugins
test: $(STAMP)
	$(BIN)/pip install -q --no-deps -e tests/toy_plugin
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=25
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d $(VENV)/site-check

test-fast: $(STAMP)
	$(BIN)/pip install -q --no-deps -e tests/toy_plugin
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow and not integration"

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

ui: $(STAMP)
	$(BIN)/sciml ui

clean:
	rm -rf $(VENV) site .sciml
