# The two commands of the README: `make up` runs the platform, `make test` runs the whole suite.
# Both bootstrap uv (into .tools/ when it is not on PATH) and the locked virtualenv (.venv/) first.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: up test lint bootstrap

up: bootstrap
	.venv/bin/aisre up $(ARGS)

test: bootstrap lint
	.venv/bin/pytest $(ARGS)

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy .

bootstrap: .venv/.synced

$(CURDIR)/.tools/bin/uv:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv>=0.5"

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python "$$(command -v $(PYTHON))"
	@touch $@
