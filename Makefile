# SPDX-License-Identifier: MIT
# pyspy-bpf build: bpf/*.bpf.c -> .bpf.o -> .skel.h -> build/pyspy-bpf
#
#   make            build build/pyspy-bpf
#   make test       install deps and the sid root, build (ASan+UBSan), run unit + integration tests
#   make demo       install deps, build, profile tests/workloads/demo.py
#   make bench      benchmarks -> docs/benchmarks.md
#   make soak       serve vs a name-churning target for SOAK_SECS (600): memory levels off
#   make fuzz       each libFuzzer harness in tests/fuzz for FUZZ_SECS (300) seconds
#   make install    install to $(PREFIX)/bin
#   V=1             show commands

OUT      := build
ARCH     := x86
PREFIX   ?= /usr/local
CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool
PYTHON   ?= python3

VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CFLAGS_COMMON := -std=gnu11 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	-DPYSPY_VERSION='"$(VERSION)"' -I$(OUT) -I.
CFLAGS   ?= -O2
SANFLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDLIBS   := -lbpf -lelf -llzma -lz -lpthread -lprotobuf-c -lmicrohttpd -lgnutls

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-I$(OUT) -Ivmlinux/$(ARCH) -Ibpf

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OUT)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(OUT)/%.skel.h,$(BPF_SRCS))

# Every user/ and symbolize/ source except main.c goes into a library that
# the binary and the unit tests link.  The layers, lowest first (a file
# includes only from its own floor or those below; docs/architecture.md):
#   symbolize/base  symbolize/model  symbolize/proc  symbolize/native  symbolize/cpython  symbolize
#   user/output  user/engine  user/cmd
LAYERS    := symbolize/base symbolize/model symbolize/proc symbolize/native symbolize/cpython symbolize \
	     user/output user/engine user/cmd
LIB_SRCS  := $(filter-out user/cmd/main.c,$(foreach d,$(LAYERS),$(wildcard $(d)/*.c)))
REL_OBJS  := $(patsubst %.c,$(OUT)/rel/%.o,$(LIB_SRCS))
SAN_OBJS  := $(patsubst %.c,$(OUT)/san/%.o,$(LIB_SRCS))
# pprof's profile.proto, compiled by protoc-c into the same library.
PROTO_C   := $(OUT)/proto/profile.pb-c.c
PROTO_H   := $(OUT)/proto/profile.pb-c.h
REL_OBJS  += $(OUT)/rel/proto/profile.pb-c.o
SAN_OBJS  += $(OUT)/san/proto/profile.pb-c.o
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUT)/san/tests/%,$(UNIT_SRCS))
# libFuzzer harnesses (clang): the library again, instrumented for coverage.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(OUT)/fuzz/%,$(FUZZ_SRCS))
FUZZ_OBJS := $(patsubst %.c,$(OUT)/fuzz/%.o,$(LIB_SRCS)) $(OUT)/fuzz/proto/profile.pb-c.o
FUZZFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
# Seconds per harness: `make fuzz` runs long, `make test` briefly (both
# run the harnesses FUZZ_JOBS at a time, default one per CPU).
FUZZ_SECS ?= 300
FUZZ_TEST_SECS ?= 15
# Parallel jobs of the build that `make test` runs itself.
JOBS ?= $(shell nproc)

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: all deps sid test unit integration demo bench soak install clean asan fuzz
.DELETE_ON_ERROR:
.SECONDARY:

all: $(OUT)/pyspy-bpf

asan: $(OUT)/san/pyspy-bpf

deps:
	$(Q)scripts/install-deps.sh

# Debian sid's python3.13/3.14/3.14-dbg/3.15, in a root outside the tree
# (/var/cache/pyspy-bpf/sid), built once and reused; the tests run them there.
sid: deps
	$(Q)scripts/provision-sid.sh

$(OUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

$(OUT)/rel/%.o: %.c $(SKELS) $(wildcard */*.h */*/*.h bpf/*.h) | $(OUT)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_COMMON) $(CFLAGS) -c $< -o $@

$(OUT)/san/%.o: %.c $(SKELS) $(wildcard */*.h */*/*.h bpf/*.h) | $(OUT)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -c $< -o $@

$(OUT)/pyspy-bpf: $(OUT)/rel/user/cmd/main.o $(REL_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(OUT)/san/pyspy-bpf: $(OUT)/san/user/cmd/main.o $(SAN_OBJS)
	$(call msg,LD-SAN,$@)
	$(Q)$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

# libdw is the reference test_dwarf holds our CFI and line readers to; the
# agent itself does not link it (symbolize/native/cfi.h, dwline.h).
$(OUT)/san/tests/test_dwarf: LDLIBS += -ldw

$(OUT)/san/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(SAN_OBJS)
	$(call msg,UNIT,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -o $@ $< $(SAN_OBJS) $(LDLIBS)

$(OUT)/fuzz/%.o: %.c $(SKELS) $(wildcard */*.h */*/*.h bpf/*.h) | $(OUT)
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) $(CFLAGS_COMMON) $(FUZZFLAGS) -c $< -o $@

$(OUT)/fuzz/proto/profile.pb-c.o: $(PROTO_C) $(PROTO_H)
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) $(CFLAGS_COMMON) $(FUZZFLAGS) -Wno-error -c $< -o $@

$(OUT)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/unit/*.h) $(FUZZ_OBJS)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(CFLAGS_COMMON) $(FUZZFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

# Each harness for FUZZ_SECS on its corpus and seeds (tests/fuzz/run.sh).
fuzz: $(FUZZ_BINS)
	$(Q)tests/fuzz/run.sh $(FUZZ_SECS) $(FUZZ_BINS)

$(PROTO_C) $(PROTO_H) &: proto/profile.proto
	$(call msg,PROTOC,$@)
	$(Q)mkdir -p $(OUT)/proto
	$(Q)protoc-c --proto_path=proto --c_out=$(OUT)/proto $<

# Generated code is protoc-c's, not ours: a newer protoc-c may trip a
# warning we cannot fix at the source, so warnings stay visible but are
# not fatal here.
$(OUT)/rel/proto/profile.pb-c.o: $(PROTO_C) $(PROTO_H)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_COMMON) $(CFLAGS) -Wno-error -c $< -o $@

$(OUT)/san/proto/profile.pb-c.o: $(PROTO_C) $(PROTO_H)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -Wno-error -c $< -o $@

# Sources that include the generated header.
$(OUT)/rel/user/output/pprof.o $(OUT)/san/user/output/pprof.o \
$(OUT)/rel/user/output/pprof_read.o $(OUT)/san/user/output/pprof_read.o \
$(OUT)/fuzz/user/output/pprof.o $(OUT)/fuzz/user/output/pprof_read.o: $(PROTO_H)

$(OUT):
	$(Q)mkdir -p $(OUT)

unit: $(UNIT_BINS)
	$(Q)tests/run-unit.sh $(UNIT_BINS)

# tests/integration/test_pprof.py reads pprof files with `test_pprof --to-folded`.
integration: $(OUT)/san/pyspy-bpf $(OUT)/san/tests/test_pprof
	$(Q)PYSPY_BIN=$(OUT)/san/pyspy-bpf tests/run-integration.sh

test: deps sid
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) $(OUT)/pyspy-bpf $(OUT)/san/pyspy-bpf $(UNIT_BINS) $(FUZZ_BINS)
	$(Q)scripts/check-layers.py
	$(Q)scripts/check-format.sh
	$(Q)tests/fuzz/run.sh $(FUZZ_TEST_SECS) $(FUZZ_BINS)
	$(Q)tests/run-all.sh $(UNIT_BINS)

demo: deps
	$(Q)$(MAKE) --no-print-directory $(OUT)/pyspy-bpf
	$(Q)scripts/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory $(OUT)/pyspy-bpf $(OUT)/pyspy-bench $(OUT)/pyspy-replay \
		$(OUT)/pyspy-bench-hash
	$(Q)bench/run.sh

soak: deps
	$(Q)$(MAKE) --no-print-directory $(OUT)/pyspy-bpf
	$(Q)bench/soak.sh

install: $(OUT)/pyspy-bpf
	install -D -m 0755 $(OUT)/pyspy-bpf $(DESTDIR)$(PREFIX)/bin/pyspy-bpf

clean:
	rm -rf $(OUT)

$(OUT)/pyspy-replay: bench/replay.c $(REL_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS_COMMON) $(CFLAGS) -o $@ $< $(REL_OBJS) $(LDLIBS)

$(OUT)/pyspy-bench-hash: bench/hash.c $(REL_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS_COMMON) $(CFLAGS) -o $@ $< $(REL_OBJS) $(LDLIBS)

$(OUT)/pyspy-bench: bench/bench_bpf.c $(OUT)/calib.skel.h $(OUT)/pyspy.skel.h $(REL_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS_COMMON) $(CFLAGS) -o $@ $< $(REL_OBJS) $(LDLIBS)
