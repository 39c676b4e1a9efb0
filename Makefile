# SPDX-License-Identifier: GPL-2.0
#
# Top-level entry points. The module itself is built by kbuild from Kbuild;
# everything userspace (unit tests, fuzzers, tools) is built here into build/.
#
#   make            module + userspace
#   make check      install deps, build, unit tests, fuzz smoke, QEMU integration
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (default 600)
#   make fuzz-smoke the same for FUZZ_SMOKE_SECONDS each (default 40)
#   make run        serve www/ from the module in a QEMU guest on localhost:8081
#   make stop       stop the guest started by make run
#   make bench      khttpd vs twin vs nginx in a QEMU guest (~20 min) -> docs/bench/
#   make bench-smoke a 1-2 minute version (khttpd + twin); fails on any error
#   make trace      trace-cmd in a QEMU guest: where khttpd's time goes -> build/trace/
#   make profile    perf record -a -g during wrk (FILE=1k, SERVER=khttpd) -> build/profile/

# Debian's generic kernel headers are what the QEMU guest runs; prefer the
# running kernel's build tree when it has one (a real machine).
KVER ?= $(shell if [ -d /lib/modules/$$(uname -r)/build ]; then uname -r; \
	else ls -1 /lib/modules 2>/dev/null | grep -- '-amd64$$' | sort -V | tail -n 1; fi)
KDIR ?= /lib/modules/$(KVER)/build

BUILD ?= build
CXX ?= g++
CXXSTD := -std=c++20
WARN := -Wall -Wextra -Werror
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CORE_SRCS := $(wildcard src/core/*.cpp)
UNIT_SRCS := $(wildcard tests/unit/*.cpp)
TOOL_SRCS := $(wildcard tools/*.cpp)
TOOLS := $(patsubst tools/%.cpp,$(BUILD)/%,$(TOOL_SRCS))
INCLUDES := -Iinclude -Isrc/core

# Release objects of the core (tools link these); sanitized ones for tests.
CORE_OBJS := $(patsubst src/core/%.cpp,$(BUILD)/core/%.o,$(CORE_SRCS))
CORE_SAN_OBJS := $(patsubst src/core/%.cpp,$(BUILD)/core-san/%.o,$(CORE_SRCS))

# libFuzzer targets (clang only), with the core built for them.
FUZZ_CXX ?= clang++
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 40
FUZZ_SRCS := $(wildcard tests/fuzz/*.cpp)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.cpp,%,$(FUZZ_SRCS))
FUZZ_BINS := $(addprefix $(BUILD)/fuzz/,$(FUZZ_TARGETS))
CORE_FUZZ_OBJS := $(patsubst src/core/%.cpp,$(BUILD)/core-fuzz/%.o,$(CORE_SRCS))

.PHONY: all module userspace unit check run stop deps \
	integration clean help fuzz fuzz-smoke fuzz-build bench bench-smoke \
	bench-tools bench-deps trace profile
.DEFAULT_GOAL := all
# Keep the objects tools are linked from; they are not intermediates.
.SECONDARY:

all: module userspace

help:
	@sed -n '3,15p' Makefile

module:
	@test -d "$(KDIR)" || { echo "no kernel build tree at KDIR=$(KDIR);" \
		"run 'make deps' or pass KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

userspace: $(BUILD)/unit_tests $(TOOLS)

$(BUILD)/core/%.o: src/core/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXSTD) $(WARN) -O2 -g $(INCLUDES) -MMD -MP -c -o $@ $<

$(BUILD)/core-san/%.o: src/core/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXSTD) $(WARN) -O1 -g $(SAN) $(INCLUDES) -MMD -MP -c -o $@ $<

$(BUILD)/unit/%.o: tests/unit/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXSTD) $(WARN) -O1 -g $(SAN) $(INCLUDES) -MMD -MP -c -o $@ $<

$(BUILD)/unit_tests: $(patsubst tests/unit/%.cpp,$(BUILD)/unit/%.o,$(UNIT_SRCS)) $(CORE_SAN_OBJS)
	$(CXX) $(SAN) -o $@ $^ -lgtest -lgtest_main -pthread

$(BUILD)/tools/%.o: tools/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXSTD) $(WARN) -O2 -g $(INCLUDES) -MMD -MP -c -o $@ $<

$(BUILD)/%: $(BUILD)/tools/%.o $(CORE_OBJS)
	$(CXX) -o $@ $^ -pthread

unit: $(BUILD)/unit_tests
	./$(BUILD)/unit_tests --gtest_brief=1

$(BUILD)/core-fuzz/%.o: src/core/%.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(CXXSTD) $(WARN) -O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN) \
		$(INCLUDES) -MMD -MP -c -o $@ $<

$(BUILD)/fuzz/%.o: tests/fuzz/%.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(CXXSTD) $(WARN) -O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN) \
		$(INCLUDES) -MMD -MP -c -o $@ $<

$(BUILD)/fuzz/%: $(BUILD)/fuzz/%.o $(CORE_FUZZ_OBJS)
	$(FUZZ_CXX) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^

fuzz-build: $(FUZZ_BINS)

# Each target first replays its past crashers (tests/fuzz/crashers/), then
# fuzzes; all targets run, and any failure fails the make target.
# tests/fuzz/run.sh says where a crashing input was left.
fuzz: $(FUZZ_BINS)
	@rc=0; for t in $(FUZZ_TARGETS); do \
		tests/fuzz/run.sh $(BUILD) $$t $(FUZZ_SECONDS) keep || rc=1; \
	done; exit $$rc

fuzz-smoke: $(FUZZ_BINS)
	@rc=0; for t in $(FUZZ_TARGETS); do \
		tests/fuzz/run.sh $(BUILD) $$t $(FUZZ_SMOKE_SECONDS) fresh || rc=1; \
	done; exit $$rc

deps:
	@scripts/deps.sh

# The integration suite runs inside a QEMU guest booted with Debian's
# generic kernel; scripts/vm.sh returns the exit status of the command.
integration: module
	scripts/vm.sh run -- scripts/guest-integration.sh

check: deps
	@scripts/check.sh

run: deps module
	scripts/vm.sh serve

stop:
	scripts/vm.sh stop

# Benchmarks (design.md section 6; scripts/bench.sh). The twin is built when
# it can be; without build/twin the bench skips it and says so.
bench-tools: module $(BUILD)/htstress
	@if [ -e tools/twin.cpp ]; then $(MAKE) --no-print-directory $(BUILD)/twin || \
		echo "bench: building the twin failed; using the existing build/twin, if any" >&2; fi

bench-deps:
	@scripts/deps.sh bench

bench: bench-deps bench-tools
	KHTTPD_BENCH_CMD="make bench" scripts/bench.sh

bench-smoke: bench-tools
	KHTTPD_BENCH_CMD="make bench-smoke" scripts/bench.sh --smoke

# Tracing and profiling in a QEMU guest (scripts/trace.sh, docs/profiling.md).
# trace-cmd, perf, wrk and nginx come with the bench package group.
FILE ?= 1k
SERVER ?= khttpd

trace: bench-deps module $(BUILD)/htstress
	scripts/trace.sh

profile: bench-deps module $(if $(filter twin,$(SERVER)),$(BUILD)/twin)
	scripts/trace.sh profile --file $(FILE) --server $(SERVER)

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
