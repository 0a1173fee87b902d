# Hermod: the two commands a user needs are `make run` and `make test`.
# Builds are serialized with flock so that parallel sessions never run two builds at once on 2 cores.
SHELL := /bin/bash
JOBS ?= 2
BUILD := build
LOCK := flock $(BUILD)/.lock
CMAKE_GEN := cmake -G Ninja -Wno-dev
ARGS ?=
FUZZ_SECONDS ?= 30

.PHONY: all deps build-dir build release tools release-all asan tsan fuzz-build run test unit integration fuzz fuzz-smoke crash-test bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build-dir:
	@mkdir -p $(BUILD)

# Release build of the broker: what make run starts and the test suite runs a second time.
# release-all adds hermod-cli, the examples, the release unit tests and the benchmarks.
release: deps | build-dir
	@[ -f $(BUILD)/release/build.ninja ] || $(CMAKE_GEN) -S . -B $(BUILD)/release -DCMAKE_BUILD_TYPE=Release
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
	@[ -f $(BUILD)/asan/build.ninja ] || $(CMAKE_GEN) -S . -B $(BUILD)/asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DHERMOD_SANITIZE=address,undefined -DHERMOD_BENCH=OFF
	@$(LOCK) cmake --build $(BUILD)/asan -j $(JOBS)

# ThreadSanitizer build of the broker, for its threaded parts (workers, cross-worker hand-off,
# subscription replicas, group commit) driven by the integration suite.
tsan: deps | build-dir
	@[ -f $(BUILD)/tsan/build.ninja ] || $(CMAKE_GEN) -S . -B $(BUILD)/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DHERMOD_SANITIZE=thread -DHERMOD_BENCH=OFF -DHERMOD_TESTS=OFF
	@$(LOCK) cmake --build $(BUILD)/tsan -j $(JOBS) --target hermod

# libFuzzer targets need clang.
fuzz-build: deps | build-dir
	@[ -f $(BUILD)/fuzz/build.ninja ] || CXX=clang++ $(CMAKE_GEN) -S . -B $(BUILD)/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERMOD_FUZZ=ON -DHERMOD_TESTS=OFF -DHERMOD_BENCH=OFF
	@$(LOCK) cmake --build $(BUILD)/fuzz -j $(JOBS)

# Starts the broker in the foreground on its embedded default configuration.
run: release tools
	./$(BUILD)/release/hermod $(ARGS)

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
# clients; testing them once is enough, and not building them in release saves minutes).
integration: release asan tsan
	@mkdir -p $(RESULTS)
	HERMOD_BIN=$(CURDIR)/$(BUILD)/asan/hermod HERMOD_CLI=$(CURDIR)/$(BUILD)/asan/hermod-cli HERMOD_EXAMPLES_DIR=$(CURDIR)/$(BUILD)/asan/examples $(PYTEST) --junitxml=$(RESULTS)/integration-asan.xml
	HERMOD_BIN=$(CURDIR)/$(BUILD)/release/hermod HERMOD_CLI=$(CURDIR)/$(BUILD)/asan/hermod-cli HERMOD_EXAMPLES_DIR=$(CURDIR)/$(BUILD)/asan/examples $(PYTEST) --junitxml=$(RESULTS)/integration-release.xml
	TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp" HERMOD_BIN=$(CURDIR)/$(BUILD)/tsan/hermod HERMOD_CLI=$(CURDIR)/$(BUILD)/asan/hermod-cli HERMOD_EXAMPLES_DIR=$(CURDIR)/$(BUILD)/asan/examples $(PYTEST) --deselect tests/integration/test_cli_interop.py --junitxml=$(RESULTS)/integration-tsan.xml

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
