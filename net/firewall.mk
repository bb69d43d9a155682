# net/firewall.mk - the firewall engine (net/firewall/), included by the
# top-level Makefile (its `net/*.mk` include).
#
# FW_SRCS    the engine: pure C, freestanding.  netd compiles these with the
#            servers' flags ($(BUILD)/user/%.o, so FW_OBJS) and links them;
#            its own sources need -Inet/firewall to include fw_match.h etc.
# Unit tests test_fw_rules (the compiler and tables), test_fw_match, test_fw_state, test_fw_nat, test_fw6,
#            test_fw_modulate: host, ASan/UBSan,
#            through the generic $(UNIT_BINS) recipe.
# fuzz-smoke each libFuzzer target for FUZZ_SMOKE_SECS on its seed corpus;
#            ends with "N passed, N failed" (N = fuzzers that ran clean).
# fuzz       the same for FUZZ_SECS each.
#
# Needs Debian's clang for the fuzzers: packages clang and libclang-rt-14-dev
# (the libFuzzer and sanitizer runtimes, only recommended by clang, and
# tools/install-packages.sh installs without recommends).  New inputs the
# fuzzers find go to $(BUILD)/tests/fuzz/work/, never into the seed corpus;
# a crash leaves its input in $(BUILD)/tests/fuzz/.

FW_SRCS     := net/firewall/fw_rules.c net/firewall/fw_match.c net/firewall/fw_state.c net/firewall/fw_log.c \
	net/firewall/fw_nat.c net/firewall/fw_modulate.c \
	net/firewall/fw_conf.c net/firewall/fw6_match.c net/firewall/fw6_state.c
FW_HDRS     := $(wildcard net/firewall/*.h) $(CONF_HDRS)
FW_OBJS     := $(FW_SRCS:%.c=$(BUILD)/user/%.o)
FW_CPPFLAGS := -Inet/firewall -Ilib/include $(CONF_CPPFLAGS)
# The compiler (fw_conf.c) reads the configuration through the one parser:
# everything that builds rule sets from text links $(CONF_SRCS) too.
$(FW_OBJS): USER_CFLAGS += $(FW_CPPFLAGS)

# ----------------------------------------------------------- unit tests ----
UNIT_TESTS += fw_rules fw_match fw_state fw_nat fw6 fw_modulate
$(BUILD)/tests/unit/test_fw_rules: tests/unit/test_fw_rules.c $(FW_SRCS) $(CONF_SRCS) $(FW_HDRS)
$(BUILD)/tests/unit/test_fw_match: tests/unit/test_fw_match.c tests/unit/fw_wire.h $(FW_SRCS) $(CONF_SRCS) $(FW_HDRS)
$(BUILD)/tests/unit/test_fw_state: tests/unit/test_fw_state.c $(FW_SRCS) $(CONF_SRCS) $(FW_HDRS)
$(BUILD)/tests/unit/test_fw_nat: tests/unit/test_fw_nat.c tests/unit/fw_wire.h $(FW_SRCS) $(CONF_SRCS) $(FW_HDRS)
$(BUILD)/tests/unit/test_fw_nat: UNIT_CFLAGS += $(FW_CPPFLAGS)
$(BUILD)/tests/unit/test_fw6: tests/unit/test_fw6.c $(FW_SRCS) $(CONF_SRCS) $(FW_HDRS)
$(BUILD)/tests/unit/test_fw_modulate: tests/unit/test_fw_modulate.c tests/unit/fw_wire.h $(FW_SRCS) $(CONF_SRCS) $(FW_HDRS)
$(BUILD)/tests/unit/test_fw_modulate: UNIT_CFLAGS += $(FW_CPPFLAGS)
$(BUILD)/tests/unit/test_fw_rules: UNIT_CFLAGS += $(FW_CPPFLAGS)
$(BUILD)/tests/unit/test_fw_match: UNIT_CFLAGS += $(FW_CPPFLAGS)
$(BUILD)/tests/unit/test_fw_state: UNIT_CFLAGS += $(FW_CPPFLAGS)
$(BUILD)/tests/unit/test_fw6: UNIT_CFLAGS += $(FW_CPPFLAGS)

# ---------------------------------------------------------------- fuzzing --
FUZZ_CC          ?= clang
FUZZ_CFLAGS      := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Wall -Wextra -Werror $(FW_CPPFLAGS) -Itests/unit
FUZZ_SMOKE_SECS  ?= 5
FUZZ_SECS        ?= 60
FW_FUZZERS       := fw_packet
# Every fragment adds its fuzzers to FUZZERS; fuzz-smoke and fuzz run them all
# (binaries $(BUILD)/tests/fuzz/fuzz_NAME, seeds tests/fuzz/corpus/NAME).
FUZZERS          += $(FW_FUZZERS)
FW_FUZZ_BINS     := $(FW_FUZZERS:%=$(BUILD)/tests/fuzz/fuzz_%)

$(BUILD)/tests/fuzz/fuzz_fw_packet: tests/fuzz/fuzz_fw_packet.c $(FW_SRCS) $(CONF_SRCS)
$(FW_FUZZ_BINS): $(FW_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

# fw_fuzz_run SECONDS: run every fuzzer that long on its corpus; PASS/FAIL
# per fuzzer, the fuzzer's own output in $(BUILD)/tests/fuzz/NAME.log.
define fw_fuzz_run
	@pass=0; fail=0; \
	for f in $(FUZZERS); do \
		work=$(BUILD)/tests/fuzz/work/$$f; log=$(BUILD)/tests/fuzz/$$f.log; \
		mkdir -p $$work; \
		if $(BUILD)/tests/fuzz/fuzz_$$f -max_total_time=$(1) -seed=1 -timeout=10 \
			-artifact_prefix=$(BUILD)/tests/fuzz/$$f- $$work tests/fuzz/corpus/$$f >$$log 2>&1; then \
			echo "PASS fuzz.$$f: $$(grep -o 'Done [0-9]* runs' $$log | tail -n 1) in $(1)s"; \
			pass=$$((pass + 1)); \
		else \
			echo "FAIL fuzz.$$f: see $$log"; tail -n 40 $$log; \
			fail=$$((fail + 1)); \
		fi; \
	done; \
	echo "$$pass passed, $$fail failed"; \
	[ $$fail -eq 0 ]
endef

.PHONY: fuzz-smoke fuzz
fuzz-smoke: $(FW_FUZZ_BINS)
	$(call fw_fuzz_run,$(FUZZ_SMOKE_SECS))

fuzz: $(FW_FUZZ_BINS)
	$(call fw_fuzz_run,$(FUZZ_SECS))
