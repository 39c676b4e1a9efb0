# SPDX-License-Identifier: GPL-2.0
#
# Top-level entry points. The module itself is built by kbuild from Kbuild;
# everything userspace (unit tests, fuzzers, tools) is built here into build/.
#
#   make            module + userspace
#   make install    the module into /lib/modules/<ver>/updates + depmod
#   make module-matrix  the module for every tested kernel installed
#   make check      install deps, build, unit tests, fuzz smoke, QEMU integration
#   make check-debug the integration suite + soak on a KASAN/kmemleak/lockdep kernel
#   make check-tlsd  the TLS agent's whole suite in a 6.12 guest
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (default 600), FUZZ_JOBS at once
#   make fuzz-smoke the same for FUZZ_SMOKE_SECONDS each (default 40)
#   make soak       100 insmod/load/rmmod cycles, memory back at baseline
#   make run        serve www/ from the module in a QEMU guest on localhost:8081
#   make stop       stop the guest started by make run
#   make bench      khttpd vs twin, nginx, lighttpd, h2o in a QEMU guest (~35 min) -> docs/bench/
#   make bench-smoke a 1-2 minute version (khttpd + twin); fails on any error
#   make echo-check user-echo-server on the host, checked by echo-bench --check
#   make echo-bench kecho.ko vs user-echo-server in a QEMU guest (~8 min) -> docs/echo/
#   make echo-bench-quick  the same, four levels, once (~1-2 min) -> build/
#   make trace      trace-cmd in a QEMU guest: where khttpd's time goes -> build/trace/
#   make profile    perf record -a -g during wrk (FILE=1k, SERVER=khttpd;
#                   CLIENT=close: htstress, a connection per request) -> build/profile/
#   make bpf        scripts/bpf/*.bt (bpftrace) in a QEMU guest during a short load -> build/bpf/

# The kernel to build for (scripts/kernel.sh says how it is chosen: the
# running kernel when it has a build tree, else the newest generic one).
# KVER= or KDIR= on the command line override; KDIR alone names its kernel.
ifeq ($(origin KVER),undefined)
ifeq ($(origin KDIR),undefined)
KVER := $(shell scripts/kernel.sh bootable 2>/dev/null || scripts/kernel.sh default 2>/dev/null)
else
KVER := $(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null)
endif
endif
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
# serve.o calls the khttpd_fs_* functions a transport implements: the unit
# tests' fake does; the tools and fuzzers that do not serve leave it out.
CORE_TOOL_OBJS := $(filter-out %/serve.o,$(CORE_OBJS))

# libFuzzer targets (clang only), with the core built for them.
FUZZ_CXX ?= clang++
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 40
# Targets fuzzed at once: each libFuzzer process keeps one CPU busy.
FUZZ_JOBS ?= $(shell nproc)
FUZZ_SRCS := $(wildcard tests/fuzz/*.cpp)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.cpp,%,$(FUZZ_SRCS))
FUZZ_BINS := $(addprefix $(BUILD)/fuzz/,$(FUZZ_TARGETS))
CORE_FUZZ_OBJS := $(filter-out %/serve.o,$(patsubst src/core/%.cpp,$(BUILD)/core-fuzz/%.o,$(CORE_SRCS)))

.PHONY: all module module-matrix install uninstall clean-module userspace unit check check-debug \
	soak run stop deps \
	integration clean help fuzz fuzz-smoke fuzz-build bench bench-smoke \
	bench-tools bench-deps trace profile echo-check echo-bench echo-bench-quick bpf \
	check-tlsd
.DEFAULT_GOAL := all
# Keep the objects tools are linked from; they are not intermediates.
.SECONDARY:

all: module userspace

help:
	@sed -n '3,23p' Makefile

# The C++ objects are compiled by the g++ that matches the kernel's gcc.
module:
	@test -d "$(KDIR)" || { echo "no kernel build tree at KDIR=$(KDIR);" \
		"run 'make deps' or pass KDIR=" >&2; exit 1; }
	@cxx=$$(scripts/kernel.sh cxx "$(KDIR)") || exit 1; \
	echo "building khttpd.ko and kecho.ko for $(KVER) with $$cxx"; \
	$(MAKE) -C $(KDIR) M=$(CURDIR) KHTTPD_CXX=$$cxx modules

# khttpd.ko for every installed kernel of the tested matrix, each in
# build/kernels/<version>/ (scripts/build-module.sh).
module-matrix:
	@vers=$$(scripts/kernel.sh matrix); [ -n "$$vers" ] || \
		{ echo "no kernel of the matrix is installed; run 'make deps'" >&2; exit 1; }; \
	for v in $$vers; do scripts/build-module.sh $$v || exit 1; done

# modules_install into /lib/modules/<ver>/updates (INSTALL_MOD_PATH= stages
# elsewhere), then depmod, so that `modprobe khttpd` finds it.
install: module
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_DIR=updates modules_install
	depmod $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $(KVER)

uninstall:
	rm -f $(INSTALL_MOD_PATH)/lib/modules/$(KVER)/updates/khttpd.ko* \
		$(INSTALL_MOD_PATH)/lib/modules/$(KVER)/updates/kecho.ko*
	depmod $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $(KVER)

clean-module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean

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

# The twin, from its own sources in tools/twin/, serves: it links serve.o
# and implements its transport. tools/common/ has what it shares with
# user-echo-server (its listeners).
TWIN_OBJS := $(patsubst tools/%.cpp,$(BUILD)/tools/%.o,$(wildcard tools/twin/*.cpp)) \
	$(BUILD)/tools/common/listener.o

$(BUILD)/twin: $(TWIN_OBJS) $(CORE_OBJS)
	$(CXX) -o $@ $^ -pthread

userspace: $(BUILD)/twin

$(BUILD)/%: $(BUILD)/tools/%.o $(CORE_TOOL_OBJS)
	$(CXX) -o $@ $^ -pthread

unit: $(BUILD)/unit_tests
	./$(BUILD)/unit_tests --gtest_brief=1

# htstress is linked from its own sources in tools/htstress/ (the pattern
# rule above is for one-file tools); its histogram is also linked,
# sanitized, into the unit tests.
HTSTRESS_OBJS := $(patsubst tools/%.cpp,$(BUILD)/tools/%.o,$(wildcard tools/htstress/*.cpp))

$(BUILD)/htstress: $(HTSTRESS_OBJS)
	$(CXX) -o $@ $^ -pthread

userspace: $(BUILD)/htstress

$(BUILD)/tools-san/htstress/%.o: tools/htstress/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXSTD) $(WARN) -O1 -g $(SAN) $(INCLUDES) -MMD -MP -c -o $@ $<

$(BUILD)/unit_tests: $(BUILD)/tools-san/htstress/histogram.o

# The course's echo server and its bench and checker, each from its own
# directory; echo-bench keeps its latencies in htstress's histogram.
ECHO_SERVER_OBJS := $(patsubst tools/%.cpp,$(BUILD)/tools/%.o,$(wildcard tools/user-echo-server/*.cpp)) \
	$(BUILD)/tools/common/listener.o
ECHO_BENCH_OBJS := $(patsubst tools/%.cpp,$(BUILD)/tools/%.o,$(wildcard tools/echo-bench/*.cpp)) \
	$(BUILD)/tools/htstress/histogram.o

$(BUILD)/user-echo-server: $(ECHO_SERVER_OBJS)
	$(CXX) -o $@ $^ -pthread

$(BUILD)/echo-bench: $(ECHO_BENCH_OBJS)
	$(CXX) -o $@ $^ -pthread

userspace: $(BUILD)/user-echo-server $(BUILD)/echo-bench

# khttpd-tlsd, the TLS handshake agent for tls_port (tools/khttpd-tlsd/):
# GnuTLS for the handshake, raw generic netlink to the kernel. Its
# sanitized build, build/khttpd-tlsd-san, is for running tests/tlsd under
# ASan/UBSan (KHTTPD_TLSD=build/khttpd-tlsd-san); make does not build it
# by default.
TLSD_SRCS := $(wildcard tools/khttpd-tlsd/*.cpp)
TLSD_CFLAGS := $(shell pkg-config --cflags gnutls 2>/dev/null)
TLSD_LIBS := $(or $(shell pkg-config --libs gnutls 2>/dev/null),-lgnutls)

$(BUILD)/tools/khttpd-tlsd/%.o: tools/khttpd-tlsd/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXSTD) $(WARN) -O2 -g $(TLSD_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tools-san/khttpd-tlsd/%.o: tools/khttpd-tlsd/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXSTD) $(WARN) -O1 -g $(SAN) $(TLSD_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/khttpd-tlsd: $(patsubst tools/%.cpp,$(BUILD)/tools/%.o,$(TLSD_SRCS))
	$(CXX) -o $@ $^ $(TLSD_LIBS) -pthread

$(BUILD)/khttpd-tlsd-san: $(patsubst tools/%.cpp,$(BUILD)/tools-san/%.o,$(TLSD_SRCS))
	$(CXX) $(SAN) -o $@ $^ $(TLSD_LIBS) -pthread

userspace: $(BUILD)/khttpd-tlsd

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

# fuzz_serve is a transport: it implements the khttpd_fs_* functions.
$(BUILD)/fuzz/fuzz_serve: $(BUILD)/core-fuzz/serve.o

fuzz-build: $(FUZZ_BINS)

# Each target first replays its past crashers (tests/fuzz/crashers/), then
# fuzzes; FUZZ_JOBS targets run at once, all of them run, and any failure
# fails the make target (xargs exits non-zero when any command did).
# tests/fuzz/run.sh says where a crashing input was left.
fuzz: $(FUZZ_BINS)
	@printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(FUZZ_JOBS) -I{} \
		tests/fuzz/run.sh $(BUILD) {} $(FUZZ_SECONDS) keep

fuzz-smoke: $(FUZZ_BINS)
	@printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(FUZZ_JOBS) -I{} \
		tests/fuzz/run.sh $(BUILD) {} $(FUZZ_SMOKE_SECONDS) fresh

deps:
	@scripts/deps.sh

# The integration suite runs inside a QEMU guest booted with Debian's
# generic kernel; scripts/vm.sh returns the exit status of the command.
integration: module
	scripts/vm.sh run -- scripts/guest-integration.sh

check: deps
	@scripts/check.sh

# The load-and-unload soak of tests/integration/test_soak.py, 100 cycles
# (make check runs 3), in a guest booted with the default kernel.
SOAK_CYCLES ?= 100
soak: deps module
	KHTTPD_SOAK_CYCLES=$(SOAK_CYCLES) KHTTPD_KO=$(CURDIR)/khttpd.ko KHTTPD_REQUIRE=1 \
		scripts/vm.sh run --timeout 7200 -- /usr/bin/python3 -m pytest -v \
		-p no:cacheprovider tests/integration/test_soak.py

# The TLS agent's whole suite in a 6.12 guest (make check runs it without
# its 1000-handshake test, which khttpd's test_tls.py does through the
# kernel).
check-tlsd: deps userspace
	KVER=$$(scripts/kernel.sh matrix | grep -v -- -rt | tail -n 1) KHTTPD_REQUIRE=1 \
		scripts/vm.sh run --timeout 1800 -- /usr/bin/python3 -m pytest -v \
		-p no:cacheprovider tests/tlsd

# The integration suite, a load/unload soak and kmemleak on a debug kernel
# with the sanitizers (scripts/check-debug.sh). Slow: not part of check.
check-debug: deps
	@scripts/check-debug.sh

run: deps module
	scripts/vm.sh serve

stop:
	scripts/vm.sh stop

# Benchmarks (docs/design.md, "Measuring"; scripts/bench.sh). The twin is
# built when it can be; without build/twin the bench skips it and says so.
# khttpd-tlsd is khttpd's side of the tls group: without it the bench
# would measure nginx alone there.
bench-tools: module $(BUILD)/htstress $(BUILD)/khttpd-tlsd
	@if [ -e tools/twin/main.cpp ]; then $(MAKE) --no-print-directory $(BUILD)/twin || \
		echo "bench: building the twin failed; using the existing build/twin, if any" >&2; fi

bench-deps:
	@scripts/deps.sh bench

bench: bench-deps bench-tools
	KHTTPD_BENCH_CMD="make bench" scripts/bench.sh

bench-smoke: bench-tools
	KHTTPD_BENCH_CMD="make bench-smoke" scripts/bench.sh --smoke

# The course's echo servers (scripts/echo-check.sh, scripts/echo-bench.sh).
# echo-bench measures kecho.ko from build/kernels/<ver>/ when it is there
# (scripts/build-module.sh) and says so when it is not.
echo-check: $(BUILD)/user-echo-server $(BUILD)/echo-bench
	@scripts/echo-check.sh

echo-bench: bench-deps $(BUILD)/user-echo-server $(BUILD)/echo-bench
	KHTTPD_BENCH_CMD="make echo-bench" scripts/echo-bench.sh

echo-bench-quick: $(BUILD)/user-echo-server $(BUILD)/echo-bench
	KHTTPD_BENCH_CMD="make echo-bench-quick" scripts/echo-bench.sh --quick

# Tracing and profiling in a QEMU guest (scripts/trace.sh, docs/profiling.md).
# trace-cmd, perf, wrk and nginx come with the bench package group.
FILE ?= 1k
SERVER ?= khttpd
CLIENT ?= wrk

trace: bench-deps module $(BUILD)/htstress
	scripts/trace.sh

# The bpftrace programs of scripts/bpf/ during a short load, on $(KVER)
# (6.12 here unless KVER= says otherwise); BPF_ARGS= passes options and
# program names to scripts/bpf.sh (e.g. BPF_ARGS="--duration 5 khttpd-latency").
bpf: deps $(BUILD)/echo-bench
	scripts/build-module.sh $(KVER)
	KVER=$(KVER) scripts/bpf.sh $(BPF_ARGS)

profile: bench-deps module $(BUILD)/htstress $(if $(filter twin,$(SERVER)),$(BUILD)/twin)
	scripts/trace.sh profile --file $(FILE) --server $(SERVER) --client $(CLIENT)

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
