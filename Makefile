# gameday — the two commands that matter come first: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMPS := .stamps
# Debian packages the test suite drives for real (installed when we are root and they are missing).
APT_PACKAGES ?= icecast2 ffmpeg prometheus iperf3 chromium debootstrap nftables iproute2 nginx \
  janus prometheus-nginx-exporter
PYTEST_ARGS ?=
# Workers of pytest-xdist: most slow tests wait on real time (a live stream, a demo run), so
# more workers than cores pays (4 workers kept 2 cores about half busy, 12 min quiet); groups
# keep what shares an engine or a fixture on one worker.
TEST_WORKERS ?= 5
# --dist loadfile, not loadgroup: under pytest 9 an item's node id is read from Node._id, so
# xdist 3.8's loadgroup (which rewrites _nodeid) groups nothing; a file is the unit instead.
# --no-loadscope-reorder: xdist otherwise queues the files with the most tests first (unit
# files of many quick cases), not the collection order tests/conftest.py gives (slow files first).
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: demo test test-loaded test-long lint typecheck bench venv apt clean

# A real game day on this machine: soundstage as local processes behind the embedded fault
# proxy, a join storm at T0 over a degraded edge link; prints the verdict, the journal and report.
demo: venv
	$(BIN)/gameday run experiments/launch-storm.yaml --report reports/demo

test: venv apt lint typecheck
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) --timeout=300 --durations=15 --junitxml=reports/junit.xml $(PYTEST_ARGS)

# The suite on a busy machine, as CI machines are: two CPU-bound processes of its own run
# throughout (stopped after, whatever the outcome); the suite's exit status is make's.
test-loaded: venv apt lint typecheck
	$(BIN)/python tests/busy.py 2 -- $(BIN)/python -m pytest $(PYTEST_PARALLEL) --timeout=300 --durations=15 --junitxml=reports/junit-loaded.xml $(PYTEST_ARGS)

# The seed replay pairs left out of `make test` for time (the 2023 join storm and its replay stay in).
test-long: venv apt
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) --timeout=300 -m long $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check chaos soundstage spaces tests benchmarks
	$(BIN)/ruff format --check chaos soundstage spaces tests benchmarks

typecheck: venv
	$(BIN)/mypy chaos

bench: venv
	@set -e; for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b; done

venv: $(STAMPS)/venv

$(STAMPS)/venv: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,docker,fast,locust,webrtc]'
	@mkdir -p $(STAMPS) && touch $@

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "not root: tests needing$$missing will be skipped"; fi; \
	fi

clean:
	rm -rf $(VENV) $(STAMPS) reports .mypy_cache .ruff_cache .pytest_cache
