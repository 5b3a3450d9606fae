# kappa -- GNU Makefile.
#
#   make                      build build/kappa
#   make test                 install missing packages, build, run every test
#   make SAN=address,undefined test    the same under sanitizers (build/san/)
#   make bench                log engine, broker and Nexmark benchmarks (BENCHMARKS.md)
#   make run                  install, build, start `kappa server`
#   make fuzz                 run the libFuzzer targets for a while (clang)
#   make test-long            the long torture runs (thousands of kills)
#
# Objects for a sanitizer build go to build/san so the two never mix.

CC      ?= cc
SAN     ?=
V       ?= 0

ifeq ($(SAN),)
BUILD   := build
SANFLAGS :=
else
BUILD   := build/san
SANFLAGS := -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

PKGS    := zlib libzstd liblz4 snappy rdkafka libmicrohttpd lmdb sqlite3 libpq libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lz -lzstd -llz4 -lsnappy -lrdkafka -lmicrohttpd -llmdb -lsqlite3 -lpq -lcurl)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wvla
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(CFLAGS) $(WARN) $(SANFLAGS) $(PKG_CFLAGS) -Iinclude -Isrc -Itests/support -MMD -MP
LDLIBS  := $(PKG_LIBS) -lpthread -lm
LDFLAGS += $(SANFLAGS)

LIB_SRC   := $(filter-out src/main.c,$(wildcard src/*/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ  := $(BUILD)/obj/src/main.o
LIB       := $(BUILD)/libkappa.a

# Tests: tests/support/*.c is linked into every test program; every other
# tests/{unit,crash,fuzz}/*.c with a main() is its own program.
SUPPORT_SRC := $(wildcard tests/support/*.c)
SUPPORT_OBJ := $(SUPPORT_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
CRASH_SRC   := $(wildcard tests/crash/crash_*.c)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRC   := $(wildcard bench/*_bench.c)
# Helper programs integration scripts run (they need servers, so they are
# not unit tests): tests/integration/*.c.
INTEG_SRC   := $(wildcard tests/integration/*.c)
UNIT_BIN    := $(UNIT_SRC:%.c=$(BUILD)/%)
CRASH_BIN   := $(CRASH_SRC:%.c=$(BUILD)/%)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/fuzz/replay_%)
BENCH_BIN   := $(BENCH_SRC:%.c=$(BUILD)/%)
INTEG_BIN   := $(INTEG_SRC:%.c=$(BUILD)/%)
# Example jobs (examples/**/*.c) build as plugins for `kappa job run`.
EXAMPLE_SRC := $(wildcard examples/*.c examples/*/*.c)
EXAMPLE_SO  := $(EXAMPLE_SRC:%.c=$(BUILD)/%.so)

ifeq ($(V),0)
Q := @
else
Q :=
endif

.PHONY: all deps test bench run fuzz test-long clean
all: $(BUILD)/kappa $(EXAMPLE_SO)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# -rdynamic: job plugins resolve the kappa_* API from the executable.
$(BUILD)/kappa: $(MAIN_OBJ) $(LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -rdynamic -o $@ $(MAIN_OBJ) -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)

# A plugin includes only kappa.h and links nothing: the runtime is the host's.
$(BUILD)/examples/%.so: examples/%.c include/kappa.h
	@mkdir -p $(dir $@)
	@echo "  PLUGIN  $@"
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(CFLAGS) $(WARN) $(SANFLAGS) -Iinclude -shared -fPIC -o $@ $<

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Fuzz targets define LLVMFuzzerTestOneInput; for `make test` they are linked
# with a small driver that replays the checked-in corpus (any compiler).
$(BUILD)/tests/fuzz/replay_%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay_main.o $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# RocksDB is only a peer in bench/state_store_bench.c, which builds without
# it when librocksdb-dev is absent (__has_include).
BENCH_LIBS := $(shell pkg-config --libs rocksdb 2>/dev/null)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(BENCH_LIBS)

deps:
	@scripts/install-deps.sh

test-programs: $(BUILD)/kappa $(EXAMPLE_SO) $(UNIT_BIN) $(CRASH_BIN) $(FUZZ_REPLAY) $(INTEG_BIN)

test: deps
	@$(MAKE) --no-print-directory test-programs
	@BUILD=$(BUILD) SAN=$(SAN) tests/run.sh

test-long: deps
	@$(MAKE) --no-print-directory test-programs
	@BUILD=$(BUILD) SAN=$(SAN) KAPPA_LONG=1 tests/run.sh

bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/kappa $(EXAMPLE_SO) $(BENCH_BIN)
	@BUILD=$(BUILD) bench/run.sh

# The broker with its embedded defaults: 127.0.0.1:9092 and [::1]:9092,
# log in ./kappa-data.  Ctrl-C stops it cleanly.
run: deps
	@$(MAKE) --no-print-directory $(BUILD)/kappa
	$(BUILD)/kappa server

# libFuzzer builds need clang; each target runs for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz: deps
	@BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run-fuzzers.sh

clean:
	rm -rf build

.SECONDARY:
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
