# minewatch - set-up and checks. `make demo` and `make test` work on a fresh machine.
# The interpreter the venv is made from: Debian's static python3 when it qualifies
# (see tools/pick-python); `make PYTHON=python3.12` picks another.
PYTHON ?= $(shell sh tools/pick-python)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# What start-up reads instead of parsing the shipped rule files, coins.yaml and pool lists
# (detector/parsedcache.py): made here, like the byte-code, and not kept in git; written
# again whenever one of them changes. Without it (or for an edited file it does not hold
# yet) start-up parses the files with PyYAML: ~125 M instructions more (callgrind), the
# same result. Defined up here: make expands a rule's prerequisites as it reads the rule.
PARSED_CACHE   := signatures/parsed-cache.json
PARSED_SOURCES := $(wildcard signatures/rules/*.yaml signatures/rules/*/*.yaml) \
                  signatures/coins.yaml $(wildcard signatures/pools/*.csv)
CORPUS ?= ../shared/corpus
APT_PACKAGES := tcpdump tshark libpcap0.8 postgresql systemd-container chromium chromium-driver

.PHONY: demo test lint eval sysdeps fixtures parsed-cache bench bench-scale bench-live clean fuzz fuzzdeps realset realset-chia realset-check realset-filecoin model

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# compat mode: the project is found through a plain path entry, not an import hook that
	@# every start of the venv's Python would load (~25 ms of each command's start-up).
	@# setuptools calls the mode transitional; without it, the default editable install.
	$(BIN)/pip install --quiet -e '.[dev]' --config-settings editable_mode=compat \
	  || $(BIN)/pip install --quiet -e '.[dev]'
	@# An editable install leaves our own modules uncompiled, and with PYTHONDONTWRITEBYTECODE
	@# every run would compile them again (~0.15 s of start-up): compile them once here.
	$(BIN)/python -m compileall -q detector >/dev/null
	touch $(STAMP)

# Debian tools the tests drive for real (tcpdump, tshark), libpcap, which compiles the
# live capture's filters (detector/source/bpf.py), PostgreSQL's server binaries, which
# the suspect store's tests start a throw-away server with (tests/pgserver.py; psycopg's
# wheel brings its own libpq), systemd-nspawn (systemd-container), which boots a systemd
# to run the shipped unit under (tests/test_systemd_unit.py), and headless Chromium with
# its WebDriver, which opens the HTML report in tests/test_report.py. Installed only when
# missing (postgresql: ~20 s here). Suricata 7, which tests/test_bench_generator.py and
# tests/test_corpus_make.py run on generated captures (tests/tcp_wire.py), comes from
# Debian's bookworm-backports (bookworm has 6.0), through make bench's own installer
# (bench/run.py install_suricata, which adds the suite when no apt source lists it).
sysdeps:
	@missing=""; for tool in tcpdump tshark chromium chromedriver; do command -v $$tool >/dev/null 2>&1 || missing=1; done; \
	{ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep -q 'libpcap\.so' || missing=1; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1; \
	command -v systemd-nspawn >/dev/null 2>&1 || missing=1; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(APT_PACKAGES)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES)) >/dev/null; \
	  else echo "warning: tcpdump/tshark/libpcap/postgresql/systemd-nspawn/chromium missing and not root; some tests will be skipped"; fi; \
	fi
	@command -v suricata >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    $(PYTHON) -c 'from bench.run import install_suricata; install_suricata()'; \
	    command -v suricata >/dev/null 2>&1 || echo "warning: suricata could not be installed; its tests will be skipped"; \
	  else echo "warning: suricata missing and not root; its tests will be skipped"; fi; }

# The scan, then the investigation report of the same captures with the example owners
# file (contrib/owners-example.csv): one self-contained HTML file.
DEMO_REPORT := out/demo-report.html
demo: $(STAMP) $(PARSED_CACHE)
	$(BIN)/minewatch scan pcaps/
	@mkdir -p out
	$(BIN)/minewatch report pcaps/ --owners contrib/owners-example.csv -o $(DEMO_REPORT)
	@echo "demo report: $(DEMO_REPORT)"

# The tests run in TEST_JOBS processes (pytest-xdist); tests that share fixed resources
# (the live lab's namespaces) are one group, run one after the other in one process.
TEST_JOBS ?= 2
test: $(STAMP) $(PARSED_CACHE) sysdeps fuzzdeps
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadgroup
	$(BIN)/minewatch verify pcaps/
	$(BIN)/minewatch verify pcaps/recorded/
	$(BIN)/minewatch verify pcaps/realset/ --manifest pcaps/realset/labels.csv
	@# fuzz smoke run: every target a few seconds (plain build of the C helpers; see fuzz/README.md)
	$(BIN)/python -m fuzz.run --smoke --seconds 3 --jobs 2 --no-sanitize

# Coverage-guided fuzzing (atheris), every target FUZZ_SECONDS each, the C helpers built
# with AddressSanitizer + UBSan (installs clang when missing); see fuzz/README.md.
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 1
fuzz: $(STAMP) fuzzdeps
	$(BIN)/python -m fuzz.run all --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS)

# atheris is in the dev extra; a venv made before it was added gets it here.
fuzzdeps: $(STAMP)
	@$(BIN)/python -c "import atheris" 2>/dev/null || $(BIN)/pip install --quiet 'atheris>=2.3,<4'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check detector

# Accuracy against every labelled set: the fixtures, the shared corpus (incl. the 254
# benign captures of ndpi-suite); one summary table, plots in out/eval.png.
# Accuracy against every labelled set: the fixtures, the shared corpus and nDPI's benign
# suite, the real-program set and a generated corpus of a seed the model never saw. Open
# flows are scored every 30 s of capture time (time to detect is that coarse): every 10 s
# tripled the run for the 45-minute generated captures.
HELDOUT_SEED ?= 99
eval: $(STAMP) build/corpus-heldout-$(HELDOUT_SEED)/flows.csv
	@mkdir -p out
	$(BIN)/minewatch eval pcaps $(CORPUS) $(CORPUS)/ndpi-suite pcaps/realset \
	  build/corpus-heldout-$(HELDOUT_SEED) --checkpoint 30 --plot out/eval.png

build/corpus-heldout-$(HELDOUT_SEED)/flows.csv: $(STAMP)
	$(BIN)/minewatch corpus make build/corpus-heldout-$(HELDOUT_SEED) --flows 4000 --seed $(HELDOUT_SEED)

# The shipped flow model (models/): trained on generated corpora of seeds 11 and 12 and, as
# negatives, nDPI's benign captures (never the real-program set or the held-out seed).
model: $(STAMP)
	$(BIN)/minewatch corpus make build/corpus-train-11 --flows 12000 --seed 11
	$(BIN)/minewatch corpus make build/corpus-train-12 --flows 8000 --seed 12
	$(BIN)/minewatch train build/corpus-train-11 build/corpus-train-12 $(CORPUS)/ndpi-suite \
	  -o models/minewatch.skops --seed 1

# Speed and memory against ndpiReader, Suricata (single runmode, the bench's coin-miner
# rules), tshark and scapy on the generated capture and the real-traffic one: one summary
# table (installs libndpi-bin, tshark, and suricata from bookworm-backports when missing);
# see bench/README.md.
bench: $(STAMP) $(PARSED_CACHE)
	$(BIN)/python -m compileall -q detector bench >/dev/null
	$(BIN)/python -m bench.run

# Cost per packet and peak RSS at 0.1 M, 1 M and 10 M packets (mixed, steady rate), 1 M and
# 10 M packets of real traffic (replicated), and at 10 k, 100 k and 1 M concurrent flows
# (bench/scale.py; captures kept in bench/data/, ~13.6 GB, reused).
bench-scale: $(STAMP) $(PARSED_CACHE)
	$(BIN)/python -m compileall -q detector bench >/dev/null
	$(BIN)/python -m bench.scale

# Live capture at rising rates over a veth (bench/live.py): minewatch live beside
# ndpiReader live, tcpreplay sending; needs root; writes bench/LIVE.md. ~15 minutes.
bench-live: $(STAMP)
	@command -v tcpreplay >/dev/null 2>&1 || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpreplay >/dev/null)
	$(BIN)/python -m compileall -q detector bench >/dev/null
	$(BIN)/python -m bench.live

# The real-program validation set (pcaps/realset/): XMRig, coin-hive-stratum,
# aiostratum-proxy and benign programs run in network namespaces against stub servers and
# captured with tcpdump (tools/realset/). About 45 minutes; needs root; not run by CI.
realset: $(STAMP)
	sh tools/realset/make.sh

# Its Filecoin/libp2p captures (js-libp2p peers with and without Filecoin's names, a
# lotus-like JSON-RPC pair): tools/realset/filecoin.sh, lab slot 12, ~7 minutes, root.
realset-filecoin: $(STAMP)
	sh tools/realset/filecoin.sh
# Its Chia captures: chia-blockchain (pinned, its own venv) in lab slot 13 - a farm, a farm
# whose farmer dials a node on another host, two peering nodes and the 8444 poller.
# About 30 minutes; needs root; not run by CI.
realset-chia: $(STAMP)
	sh tools/realset/chia_setup.sh
	CHIA_VENV=$${CHIA_VENV:-build/realset/chia-venv} $(BIN)/python -m tools.realset.chia_lab

# What minewatch finds on it today (TLS miners are missed: not part of `make test`).
realset-check: $(STAMP)
	-$(BIN)/minewatch verify pcaps/realset --manifest pcaps/realset/labels.csv
	$(BIN)/minewatch eval pcaps/realset

fixtures: $(STAMP)
	$(BIN)/python -m tools.make_fixtures pcaps

# The parsed cache (PARSED_CACHE, at the top): `make parsed-cache` writes it when stale.
$(PARSED_CACHE): $(STAMP) $(PARSED_SOURCES) tools/parsed_cache.py detector/parsedcache.py \
                 detector/yamlsrc.py detector/pools.py
	$(BIN)/python -m tools.parsed_cache >/dev/null

parsed-cache: $(PARSED_CACHE)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache $(PARSED_CACHE)
