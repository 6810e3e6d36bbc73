# Two entry points do all set-up on a fresh clone: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO := demo/ssr-app

FLEET := tests/fixtures/fleet

.PHONY: demo test setup bench clean chromium prometheus builds

# the last step compiles the heap kernels into src/leaksleuth/heap/_jitcache (a wheel carries them
# already): no run, not even the first, waits for numba's JIT
$(VENV)/.installed: pyproject.toml setup.py
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m leaksleuth.heap.warmup
	$(PY) -m compileall -q src/leaksleuth  # as pip does for a wheel (PYTHONDONTWRITEBYTECODE may be set)
	touch $@

$(DEMO)/node_modules/.installed: $(DEMO)/package-lock.json
	cd $(DEMO) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# headless Chromium checks the HTML report in the tests (Debian package; CI runs as root)
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# the fleet tests' services (prom-client, pinned by the fixture's package-lock.json)
$(FLEET)/node_modules/.installed: $(FLEET)/package-lock.json
	cd $(FLEET) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# a real Prometheus server and promtool for the fleet and rules tests (Debian package; CI runs as root)
prometheus:
	@command -v promtool >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null)

setup: $(VENV)/.installed $(DEMO)/node_modules/.installed

# The demo's built variants (demo/builds) and the framework fixtures (tests/fixtures/builds): real
# bundlers from npm, pinned by each lockfile. `npm ci` runs when a lockfile changes, a build when
# its sources change; the output (dist/, .next/, .output/) is git-ignored and reused.
BUILDS := demo/builds
FIXTURES := tests/fixtures/builds
NPM_CI := npm ci --no-audit --no-fund --loglevel=error
BUILT := $(BUILDS)/vue-bundle/dist/vue-ssr-server-bundle.json $(BUILDS)/vite-ssr/dist/server/entry-server.js \
	$(FIXTURES)/next14/.next/BUILD_ID $(FIXTURES)/nuxt3/.output/server/index.mjs $(FIXTURES)/servers/node_modules/.installed

$(BUILDS)/vue-bundle/node_modules/.installed: $(BUILDS)/vue-bundle/package-lock.json
	cd $(BUILDS)/vue-bundle && $(NPM_CI)
	touch $@

$(BUILDS)/vite-ssr/node_modules/.installed: $(BUILDS)/vite-ssr/package-lock.json
	cd $(BUILDS)/vite-ssr && $(NPM_CI)
	touch $@

$(FIXTURES)/next14/node_modules/.installed: $(FIXTURES)/next14/package-lock.json
	cd $(FIXTURES)/next14 && $(NPM_CI)
	touch $@

$(FIXTURES)/nuxt3/node_modules/.installed: $(FIXTURES)/nuxt3/package-lock.json
	cd $(FIXTURES)/nuxt3 && $(NPM_CI)
	touch $@

$(FIXTURES)/servers/node_modules/.installed: $(FIXTURES)/servers/package-lock.json
	cd $(FIXTURES)/servers && $(NPM_CI)
	touch $@

$(BUILDS)/vue-bundle/dist/vue-ssr-server-bundle.json: $(BUILDS)/vue-bundle/node_modules/.installed \
		$(BUILDS)/vue-bundle/build.js $(wildcard $(BUILDS)/vue-bundle/src/*.* $(BUILDS)/vue-bundle/src/*/*.*)
	cd $(BUILDS)/vue-bundle && node build.js >/dev/null
	touch $@

$(BUILDS)/vite-ssr/dist/server/entry-server.js: $(BUILDS)/vite-ssr/node_modules/.installed \
		$(BUILDS)/vite-ssr/vite.config.mjs $(wildcard $(BUILDS)/vite-ssr/src/*.* $(BUILDS)/vite-ssr/src/*/*.*)
	cd $(BUILDS)/vite-ssr && npx vite build --ssr src/entry-server.ts --outDir dist/server
	touch $@

$(FIXTURES)/next14/.next/BUILD_ID: $(FIXTURES)/next14/node_modules/.installed $(FIXTURES)/next14/next.config.js \
		$(wildcard $(FIXTURES)/next14/pages/*.* $(FIXTURES)/next14/lib/*.*)
	cd $(FIXTURES)/next14 && NEXT_TELEMETRY_DISABLED=1 npx next build >/dev/null
	touch $@

$(FIXTURES)/nuxt3/.output/server/index.mjs: $(FIXTURES)/nuxt3/node_modules/.installed $(FIXTURES)/nuxt3/nuxt.config.ts \
		$(FIXTURES)/nuxt3/app.vue $(wildcard $(FIXTURES)/nuxt3/pages/*.* $(FIXTURES)/nuxt3/server/*/*.*)
	cd $(FIXTURES)/nuxt3 && NUXT_TELEMETRY_DISABLED=1 npx nuxt build >/dev/null
	touch $@

builds: $(BUILT)

demo: setup
	$(VENV)/bin/leaksleuth demo

# the import contract (pyproject's [tool.importlinter]), lint, types, then the suite
test: setup chromium prometheus $(FLEET)/node_modules/.installed builds
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) src/leaksleuth/heap/_jitcache $(DEMO)/node_modules $(FLEET)/node_modules $(BUILDS)/*/node_modules $(BUILDS)/*/dist \
		$(FIXTURES)/*/node_modules $(FIXTURES)/next14/.next $(FIXTURES)/nuxt3/.nuxt $(FIXTURES)/nuxt3/.output
