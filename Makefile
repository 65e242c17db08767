# Two commands for a fresh Debian/Ubuntu machine: `make demo` and `make test`.
# `make check` is the edit-test loop: lint, types and the unit tests (no token), in seconds.
.PHONY: setup demo lint test check bench clean

setup:
	@bash scripts/bootstrap.sh

demo: setup
	.venv/bin/ikm-tui demo

# ruff and mypy read their configuration from pyproject.toml.
lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy

check: lint
	.venv/bin/python -m pytest -q tests/unit $(PYTEST_ARGS)

test: lint
	.venv/bin/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	.venv/bin/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf .venv build *.egg-info .mypy_cache .ruff_cache
