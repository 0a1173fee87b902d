# Hermod: the two commands a user needs are `make run` and `make test`.
# Builds are serialized with one machine-wide flock, so that sessions in several checkouts never
# run two builds at once on 2 cores.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD := build
LOCK := flock /tmp/hermod-build.lock
CMAKE_GEN := cmake -G Ninja -Wno-dev
# configure DIR ARGS...: (re)configures build directory DIR when it has no build.ninja or was
# configured with other arguments (recorded in DIR/.configure-args), so changed flags in this
# Makefile take effect in an existing build directory.
configure = args='$(2)'; if [ ! -f $(1)/build.ninja ] || [ "$$(cat $(1)/.configure-args 2>/dev/null)" != "$$args" ]; then \
  $(CMAKE_GEN) -S . -B $(1) $(2) && echo "$$args" > $(1)/.configure-args; fi
ARGS ?=
COMMA := ,
FUZZ_SECONDS ?= 30

.PHONY: all deps build-dir build release tools release-all asan tsan fuzz-build run install deb test unit integration fuzz fuzz-smoke crash-test bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build-dir:
	@mkdir -p $(BUILD)

# Release build of the broker: what make run starts and the test suite runs a second time.
# release-all adds hermod-cli, the examples, the release unit tests and the benchmarks.
release: deps | build-dir
	@$(call configure,$(BUILD)/release,-DCMAKE_BUILD_TYPE=Release)
	@$(LOCK) cmake --build $(BUILD)/release -j $(JOBS) --target hermod

# The client side in release: hermod-cli and the example programs (make, make run).
RELEASE_TOOLS := hermod-cli $(patsubst examples/%.cpp,example_%,$(wildcard examples/*.cpp))
tools: release
	@$(LOCK) cmake --build $(BUILD)/release -j $(JOBS) --target $(RELEASE_TOOLS)

release-all: release
	@$(LOCK) cmake --build $(BUILD)/release -j $(JOBS)

build: release tools

# Debug build with AddressSanitizer and UndefinedBehaviorSanitizer, for the test suite.
# The sanitizer builds carry line tables only (-g1): reports keep function, file and line, and
# a translation unit compiles about a fifth faster (an ASan example: 16 s instead of 20 s).
asan: deps | build-dir
	@$(call configure,$(BUILD)/asan,-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DHERMOD_SANITIZE=address$(COMMA)undefined -DHERMOD_BENCH=OFF)
	@$(LOCK) cmake --build $(BUILD)/asan -j $(JOBS)

# ThreadSanitizer build of the broker, for its threaded parts (workers, cross-worker hand-off,
# subscription replicas, group commit) driven by the integration suite.
tsan: deps | build-dir
	@$(call configure,$(BUILD)/tsan,-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DHERMOD_SANITIZE=thread -DHERMOD_BENCH=OFF -DHERMOD_TESTS=OFF)
	@$(LOCK) cmake --build $(BUILD)/tsan -j $(JOBS) --target hermod

# libFuzzer targets need clang.
fuzz-build: deps | build-dir
	@command -v clang++ >/dev/null || { echo "fuzz-build: clang++ is missing (scripts/install-deps.sh installs clang)" >&2; exit 1; }
	@export CXX=clang++; $(call configure,$(BUILD)/fuzz,-DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERMOD_FUZZ=ON -DHERMOD_TESTS=OFF -DHERMOD_BENCH=OFF)
	@$(LOCK) cmake --build $(BUILD)/fuzz -j $(JOBS)

# Starts the broker in the foreground on its embedded default configuration, with its store in
# build/run-data so that a restart keeps what was acknowledged. ARGS naming a configuration file
# or a data directory leave the store to them.
RUN_DATA := $(BUILD)/run-data
RUN_DATA_ARGS := $(if $(filter -c --config --config=% --data-dir --data-dir=%,$(ARGS)),,--data-dir $(RUN_DATA))
run: release tools
	@$(if $(RUN_DATA_ARGS),echo "make run: the broker's data lives in $(RUN_DATA) (delete it to start empty)")
	./$(BUILD)/release/hermod $(RUN_DATA_ARGS) $(ARGS)

# CMake install of the broker, hermod-cli, the systemd unit, /etc/hermod/hermod.toml (kept when it
# exists), the docs, and the client library's headers:
# make install PREFIX=/usr DESTDIR=/tmp/stage.
PREFIX ?= /usr/local
install: release tools
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD)/release --prefix $(PREFIX)

# The Debian package build/hermod_VERSION_ARCH.deb (scripts/build-deb.sh; docs/operations.md).
deb: release
	@$(LOCK) cmake --build $(BUILD)/release -j $(JOBS) --target hermod-cli
	@bash scripts/build-deb.sh $(BUILD)/release $(BUILD)

RESULTS := $(CURDIR)/$(BUILD)/test-results

unit: asan
	@mkdir -p $(RESULTS)
	@cd $(BUILD)/asan && GTEST_OUTPUT=xml:$(RESULTS)/ ctest --output-on-failure -j $(JOBS)

# The integration tests mostly wait on brokers and timers, so four pytest-xdist processes share
# the two cores well (each takes broker ports from its own range: tests/integration/broker_process.py).
TEST_PROCS ?= 4
PYTEST := /usr/bin/python3 -m pytest -q -p no:cacheprovider -o junit_family=xunit2 -n $(TEST_PROCS) tests/integration

# The integration suite against the ASan+UBSan broker and clients, the release broker, and the
# ThreadSanitizer broker. hermod-cli and the examples are the ASan builds in every run (they are
# clients: testing them once is enough).
# test_packaging.py checks the Debian package (make deb, which needs the release hermod-cli) and
# runs the broker it contains, whatever HERMOD_BIN says: it runs in the release pass only.
integration: release asan tsan deb
	@mkdir -p $(RESULTS)
	HERMOD_BIN=$(CURDIR)/$(BUILD)/asan/hermod HERMOD_CLI=$(CURDIR)/$(BUILD)/asan/hermod-cli HERMOD_EXAMPLES_DIR=$(CURDIR)/$(BUILD)/asan/examples $(PYTEST) --deselect tests/integration/test_packaging.py --junitxml=$(RESULTS)/integration-asan.xml
	HERMOD_BIN=$(CURDIR)/$(BUILD)/release/hermod HERMOD_CLI=$(CURDIR)/$(BUILD)/asan/hermod-cli HERMOD_EXAMPLES_DIR=$(CURDIR)/$(BUILD)/asan/examples $(PYTEST) --junitxml=$(RESULTS)/integration-release.xml
# The TSan run deselects test_cli_interop.py too: those tests drive hermod-cli against Debian's
# mosquitto and never start a Hermod broker, so under the TSan broker they would repeat the
# ASan run's work and check nothing threaded.
	TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp" HERMOD_BIN=$(CURDIR)/$(BUILD)/tsan/hermod HERMOD_CLI=$(CURDIR)/$(BUILD)/asan/hermod-cli HERMOD_EXAMPLES_DIR=$(CURDIR)/$(BUILD)/asan/examples $(PYTEST) --deselect tests/integration/test_cli_interop.py --deselect tests/integration/test_packaging.py --junitxml=$(RESULTS)/integration-tsan.xml

# Every fuzz target for FUZZ_SECONDS each (make fuzz FUZZ_SECONDS=600 for a longer run).
fuzz: fuzz-build
	@bash tests/fuzz/run.sh $(BUILD)/fuzz $(FUZZ_SECONDS)

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=12

test: release asan tsan
	@rm -rf $(RESULTS)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory fuzz-smoke
	@/usr/bin/python3 scripts/test-summary.py $(RESULTS)

# The SIGKILL crash loop with more rounds than make test runs (ROUNDS=N).
ROUNDS ?= 50
crash-test: release
	HERMOD_CRASH_ROUNDS=$(ROUNDS) HERMOD_BIN=$(CURDIR)/$(BUILD)/release/hermod /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_durability.py -k sigkill

bench: release-all
	@bash bench/run.sh $(BUILD)/release

clean:
	rm -rf $(BUILD)
