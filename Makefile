# Self-Instruct Studio: `make run` starts the dashboard, `make test` runs the tests.
# Both create .venv and install everything on first use.

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llama-cpp-python is built from source once, without native CPU flags (the native
# build crashes on CPUs with AMX), into a wheel folder outside the repo, then reused.
LLAMA_VERSION := 0.3.36
WHEELS := $(HOME)/.cache/selfinstruct/wheels
STAMP := $(VENV)/.installed
# llama.cpp's own OpenAI-compatible server (python -m llama_cpp.server) for the tests that drive
# real servers: its extras' deps only, the llama-cpp-python wheel above is reused, never rebuilt.
SERVER_STAMP := $(VENV)/.server-installed
# Ray, the optional extra for the cluster tests (tests/test_ray.py) and bench/bench_ray.py.
RAY_STAMP := $(VENV)/.ray-installed
PORT ?= 8501

.PHONY: run test test-quick bench setup browser clean

run: $(STAMP)
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true

test: $(STAMP) $(SERVER_STAMP) browser $(RAY_STAMP)
	$(BIN)/python -m pytest

# The quick run: every test but those marked slow, browser or embedded (markers in pyproject.toml).
test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser and not embedded"

bench: $(STAMP) $(RAY_STAMP)
	@set -e; for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f $(BENCH_ARGS); done

setup: $(STAMP) $(SERVER_STAMP)

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(BIN)/python
	mkdir -p $(WHEELS)
	ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip wheel --no-cache-dir --no-deps -w $(WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/pip install --find-links $(WHEELS) -r requirements.txt
	$(BIN)/pip install --no-deps -e .
	touch $@

$(SERVER_STAMP): $(STAMP)
	$(BIN)/pip install --find-links $(WHEELS) "llama-cpp-python[server]==$(LLAMA_VERSION)"
	touch $@

$(RAY_STAMP): $(STAMP)
	$(BIN)/pip install -e ".[ray]"
	touch $@

# Browser tests drive Debian's Chromium; install it when missing (needs root, as on CI).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) \
	  || echo "warning: could not install chromium; browser tests will be skipped"

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
