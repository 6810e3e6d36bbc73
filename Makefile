# Two entry points do all set-up on a fresh clone: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO := demo/ssr-app

.PHONY: demo test setup bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

$(DEMO)/node_modules/.installed: $(DEMO)/package-lock.json
	cd $(DEMO) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed $(DEMO)/node_modules/.installed

demo: setup
	$(VENV)/bin/leaksleuth demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(DEMO)/node_modules
