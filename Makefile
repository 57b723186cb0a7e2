# gameday — the two commands that matter come first: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMPS := .stamps
# Debian packages the test suite drives for real (installed when we are root and they are missing).
APT_PACKAGES ?= icecast2 ffmpeg prometheus iperf3 chromium debootstrap nftables iproute2
PYTEST_ARGS ?=

.PHONY: demo test test-long lint typecheck bench venv apt clean

# A real game day on this machine: soundstage as local processes behind the embedded fault
# proxy, a join storm at T0 over a degraded edge link; prints the verdict, the journal and report.
demo: venv
	$(BIN)/gameday run experiments/launch-storm.yaml --report reports/demo

test: venv apt lint typecheck
	$(BIN)/python -m pytest --timeout=300 --durations=15 --junitxml=reports/junit.xml $(PYTEST_ARGS)

# The seed replay pairs left out of `make test` for time (the 2023 join storm and its replay stay in).
test-long: venv apt
	$(BIN)/python -m pytest --timeout=300 -m long $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check chaos soundstage tests benchmarks
	$(BIN)/ruff format --check chaos soundstage tests benchmarks

typecheck: venv
	$(BIN)/mypy chaos

bench: venv
	@set -e; for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b; done

venv: $(STAMPS)/venv

$(STAMPS)/venv: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,docker,grafana,fast,locust]'
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
