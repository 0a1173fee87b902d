# Hermod: the two commands a user needs are `make run` and `make test`.
# Builds are serialized with flock so that parallel sessions never run two builds at once on 2 cores.
SHELL := /bin/bash
JOBS ?= 2
BUILD := build
LOCK := flock $(BUILD)/.lock
CMAKE_GEN := cmake -G Ninja -Wno-dev
ARGS ?=
FUZZ_SECONDS ?= 30

.PHONY: all deps build-dir build release asan tsan fuzz-build run test unit integration fuzz fuzz-smoke crash-test bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build-dir:
	@mkdir -p $(BUILD)

# Release build: the broker, the CLI, the examples, unit tests and benchmarks.
release: deps | build-dir
	@[ -f $(BUILD)/release/build.ninja ] || $(CMAKE_GEN) -S . -B $(BUILD)/release -DCMAKE_BUILD_TYPE=Release
	@$(LOCK) cmake --build $(BUILD)/release -j $(JOBS)

build: release

# Debug build with AddressSanitizer and UndefinedBehaviorSanitizer, for the test suite.
asan: deps | build-dir
	@[ -f $(BUILD)/asan/build.ninja ] || $(CMAKE_GEN) -S . -B $(BUILD)/asan -DCMAKE_BUILD_TYPE=Debug -DHERMOD_SANITIZE=address,undefined -DHERMOD_BENCH=OFF
	@$(LOCK) cmake --build $(BUILD)/asan -j $(JOBS)

# ThreadSanitizer build for the threaded parts (workers, cross-worker hand-off).
tsan: deps | build-dir
	@[ -f $(BUILD)/tsan/build.ninja ] || $(CMAKE_GEN) -S . -B $(BUILD)/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERMOD_SANITIZE=thread -DHERMOD_BENCH=OFF
	@$(LOCK) cmake --build $(BUILD)/tsan -j $(JOBS)

# libFuzzer targets need clang.
fuzz-build: deps | build-dir
	@[ -f $(BUILD)/fuzz/build.ninja ] || CXX=clang++ $(CMAKE_GEN) -S . -B $(BUILD)/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERMOD_FUZZ=ON -DHERMOD_TESTS=OFF -DHERMOD_BENCH=OFF
	@$(LOCK) cmake --build $(BUILD)/fuzz -j $(JOBS)

# Starts the broker in the foreground on its embedded default configuration.
run: release
	./$(BUILD)/release/hermod $(ARGS)

unit: asan
	@cd $(BUILD)/asan && ctest --output-on-failure -j $(JOBS)

integration: release asan
	HERMOD_BIN=$(CURDIR)/$(BUILD)/asan/hermod /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration
	HERMOD_BIN=$(CURDIR)/$(BUILD)/release/hermod /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

# Every fuzz target for FUZZ_SECONDS each (make fuzz FUZZ_SECONDS=600 for a longer run).
fuzz: fuzz-build
	@bash tests/fuzz/run.sh $(BUILD)/fuzz $(FUZZ_SECONDS)

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=20

test: release asan
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory fuzz-smoke

# The SIGKILL crash loop with more rounds than make test runs (ROUNDS=N).
ROUNDS ?= 50
crash-test: release
	HERMOD_CRASH_ROUNDS=$(ROUNDS) HERMOD_BIN=$(CURDIR)/$(BUILD)/release/hermod /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_durability.py -k sigkill

bench: release
	@bash bench/run.sh $(BUILD)/release

clean:
	rm -rf $(BUILD)
