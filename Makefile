.PHONY: start test bench

start:  ## start leadcast (installs what it needs first)
	@bash scripts/start.sh $(ARGS)

test:   ## run every check and test (installs what it needs first)
	@bash scripts/test.sh

bench:  ## run the real-time server benchmark
	@bash scripts/bootstrap.sh && .venv/bin/python bench/realtime_bench.py
