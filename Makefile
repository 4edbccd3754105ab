# The README's commands. Each target sets up .venv when it is missing or stale.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PLUGINS := $(wildcard plugins/*/pyproject.toml)
NODEPS  := $(wildcard plugins/*/requirements-nodeps.txt)
STAMP   := $(VENV)/.installed

.PHONY: setup run test test-fast docs bench ui clean

# Extras the repository's own environment installs, by plugin folder: ptrcnn's CHGNet labelling
# (its slow test runs CHGNet) and finitewave's run-time imports (finitewave itself comes last, below).
EXTRAS_aphyn  := [sim-nodeps]
EXTRAS_ptrcnn := [label]
plugin_req = -e "./$(1)$(EXTRAS_$(notdir $(1)))"
# setuptools prints an information-only note ("Editable installation. Please be careful with folders
# ...") for every editable install whose layout is not src/: it says nothing about this project.
QUIET_EDITABLE := PYTHONWARNINGS="ignore:Editable installation:UserWarning"

$(STAMP): pyproject.toml constraints.txt $(PLUGINS) $(NODEPS)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned in constraints.txt: the CPU wheel; nothing below may pull a CUDA build
	$(BIN)/pip install -q -c constraints.txt torch
	$(QUIET_EDITABLE) $(BIN)/pip install -q -c constraints.txt -e ".[test,docs,optuna]" \
		$(foreach p,$(patsubst %/,%,$(dir $(PLUGINS))),$(call plugin_req,$(p)))
	# last, and without dependencies: finitewave pins numpy<2 and wants pyvista/ffmpeg it does not
	# import on our path (plugins/aphyn/requirements-nodeps.txt says why)
	for f in $(NODEPS); do $(BIN)/pip install -q --no-deps -r $$f || exit 1; done
	touch $(STAMP)

setup: $(STAMP)

# the headline job: tune the cgmap plugin on its embedded defaults
run: $(STAMP)
	$(BIN)/sciml run cgmap --tune

# the toy plugin under tests/ is a third-party plugin installed the way users install plugins
test: $(STAMP)
	$(QUIET_EDITABLE) $(BIN)/pip install -q --no-deps -e tests/toy_plugin
	# lint, fast, before the tests: ruff over the whole repository ([tool.ruff] in pyproject.toml),
	# then the import contracts of [tool.importlinter]: public API, no plugin in the core, the Ray
	# worker without the driver, no cycles
	$(BIN)/ruff check --no-cache .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=25
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d $(VENV)/site-check

test-fast: $(STAMP)
	$(QUIET_EDITABLE) $(BIN)/pip install -q --no-deps -e tests/toy_plugin
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow and not integration"

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

ui: $(STAMP)
	$(BIN)/sciml ui

clean:
	rm -rf $(VENV) site .sciml
