# appliance/config.mk - the appliance.conf parser, writer and diff
# (appliance/config/), included by the top-level Makefile
# (-include appliance/*.mk).
#
#   CONF_SRCS    the one reader of appliance.conf (pure C): the tokenizer,
#                the address parser, the statements, the firewall grammar
#                (conf_pf*.c), the canonical writer, the diff and the edits;
#                linked by init, netd, tlsd, consoled, tools/conf_check.c and
#                the host tests and fuzzer.  It uses the password-hash check
#                of passwd.c (the console's hash, part of the language) and
#                includes no server's header.
#
# Host unit tests (test_<name> in UNIT_TESTS, the generic recipe):
#   test_config     parser errors, writer, round trip, diff
#   test_config_pf  the firewall grammar: tokenizer, addresses (IPv4, IPv6),
#                   macros, lists, tables, options, unsupported constructs
#
# `make fuzz-config` builds tests/fuzz/fuzz_config.c with clang's libFuzzer
# (-fsanitize=fuzzer,address,undefined) and runs it for FUZZ_SECS seconds
# (default 60) on tests/fuzz/corpus/config; new inputs go to
# build/tests/fuzz/work/config, never into the repository.

CONF_SRCS    := appliance/config/conf.c appliance/config/conf_lex.c appliance/config/conf_addr.c \
	appliance/config/conf_pf.c appliance/config/conf_pf_host.c appliance/config/conf_pf_rule.c appliance/config/conf_write.c \
	appliance/config/conf_diff.c appliance/config/conf_edit.c appliance/config/passwd.c \
	appliance/config/conf_ops.c # syslog, ntp, metrics
CONF_HDRS    := $(wildcard appliance/config/*.h) lib/include/keel/textbuf.h
# Linked by several programs (consoled, init, netd, tlsd): their own flags
# (user_prog's FLAGS) leave these objects alone.
SHARED_SRCS  += $(CONF_SRCS)
CONF_CPPFLAGS := -Iappliance/config -Ilib/include

# Guest objects of these sources (whoever links them) need the include paths.
$(CONF_SRCS:%.c=$(BUILD)/user/%.o): USER_CFLAGS += $(CONF_CPPFLAGS)

UNIT_TESTS += config
$(BUILD)/tests/unit/test_config: tests/unit/test_config.c $(CONF_SRCS) $(CONF_HDRS)
$(BUILD)/tests/unit/test_config: UNIT_CFLAGS += $(CONF_CPPFLAGS)

UNIT_TESTS += config_pf
$(BUILD)/tests/unit/test_config_pf: tests/unit/test_config_pf.c $(CONF_SRCS) $(CONF_HDRS)
$(BUILD)/tests/unit/test_config_pf: UNIT_CFLAGS += $(CONF_CPPFLAGS)

# ------------------------------------------------------------------ fuzz ----
# Own variable names: net/firewall.mk (included after this file) defines
# FUZZ_CFLAGS for its fuzzers.  Same layout as theirs: the binary in
# $(BUILD)/tests/fuzz/, new inputs in $(BUILD)/tests/fuzz/work/config.
FUZZ_CC   ?= clang
FUZZ_SECS ?= 60
CONF_FUZZ_CFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all $(CONF_CPPFLAGS)

$(BUILD)/tests/fuzz/fuzz_config: tests/fuzz/fuzz_config.c $(CONF_SRCS) $(CONF_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CONF_FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

FUZZERS += config

.PHONY: fuzz-config
fuzz-config: $(BUILD)/tests/fuzz/fuzz_config
	@mkdir -p $(BUILD)/tests/fuzz/work/config
	$(BUILD)/tests/fuzz/fuzz_config -max_total_time=$(FUZZ_SECS) -max_len=8192 -timeout=10 \
		-artifact_prefix=$(BUILD)/tests/fuzz/config- $(BUILD)/tests/fuzz/work/config tests/fuzz/corpus/config

# The console password hash (appliance/config/passwd.c) and tools/keel-passwd.
UNIT_TESTS += config_passwd
$(BUILD)/tests/unit/test_config_passwd: tests/unit/test_config_passwd.c appliance/config/passwd.c \
	appliance/config/passwd.h tools/keel-passwd
$(BUILD)/tests/unit/test_config_passwd: UNIT_CFLAGS += -Iappliance/config -Ilib/include
