# The two commands a newcomer needs: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench schema system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: start the daemon in the foreground on the default socket
run: $(STAMP)
	$(BIN)/switchboard serve

## test: install what is missing (Debian's chromium, its headless shell and systemd tools when root), run pytest
test: $(STAMP) system-deps
	$(BIN)/python -m pytest

system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromium-headless-shell >/dev/null 2>&1 || missing="$$missing chromium-headless-shell"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "note: missing$$missing (install them as root; the tests that need them will skip)"; \
	  fi; \
	fi

## lint: ruff everywhere, mypy --strict on the packages
lint: $(STAMP)
	$(BIN)/ruff check daemon bridges rpc_schema tests bench
	$(BIN)/mypy daemon bridges rpc_schema tests bench

## bench: the benchmarks in bench/, figures printed with their baselines
bench: $(STAMP)
	$(BIN)/python -m bench

## schema: regenerate rpc_schema/API.md and errors.json after editing openrpc.json or errors.py
schema: $(STAMP)
	$(BIN)/python -m rpc_schema.generate

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
