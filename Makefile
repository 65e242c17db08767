# Two commands for a fresh Debian/Ubuntu machine: `make demo` and `make test`.
.PHONY: setup demo test bench clean

setup:
	@bash scripts/bootstrap.sh

demo: setup
	.venv/bin/ikm-tui demo

test: setup
	.venv/bin/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	.venv/bin/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf .venv build *.egg-info
