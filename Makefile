# Two entry points do all set-up on a fresh clone: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO := demo/ssr-app

.PHONY: demo test setup bench clean chromium

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

$(DEMO)/node_modules/.installed: $(DEMO)/package-lock.json
	cd $(DEMO) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# headless Chromium checks the HTML report in the tests (Debian package; CI runs as root)
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

setup: $(VENV)/.installed $(DEMO)/node_modules/.installed

demo: setup
	$(VENV)/bin/leaksleuth demo

# the import contract (pyproject's [tool.importlinter]), lint, types, then the suite
test: setup chromium
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(DEMO)/node_modules
