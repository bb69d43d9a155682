# appliance/config.mk - the appliance.conf parser, writer and diff
# (appliance/config/), included by the top-level Makefile
# (-include appliance/*.mk).
#
#   CONF_SRCS    the pure configuration code: linked into consoled (and,
#                later, init/netd/tlsd) and into the host tests and fuzzer;
#                it uses the password-hash check of appliance/console/passwd.c
#   CONF_FW_SRCS the bridge to the firewall's rule parser (net/firewall/),
#                built only when that directory is in the tree
#
# Host unit tests (test_<name> in UNIT_TESTS, the generic recipe):
#   test_config     parser errors, writer, round trip, diff
#   test_config_fw  rules delegated to fw_parse_rule (when net/firewall exists)
#
# `make fuzz-config` builds tests/fuzz/fuzz_config.c with clang's libFuzzer
# (-fsanitize=fuzzer,address,undefined) and runs it for FUZZ_SECS seconds
# (default 60) on tests/fuzz/corpus/config; new inputs go to
# build/tests/fuzz/work/config, never into the repository.

CONF_SRCS    := appliance/config/conf.c appliance/config/conf_write.c appliance/config/conf_diff.c appliance/config/conf_edit.c \
	appliance/console/passwd.c net/netd_route.c
CONF_SRCS    += appliance/config/conf_ops.c # syslog, ntp, metrics
CONF_HDRS    := appliance/config/conf.h lib/include/keel/textbuf.h appliance/console/passwd.h net/netd_route.h
CONF_HDRS    += appliance/config/conf_ops.h
CONF_CPPFLAGS := -Iappliance/config -Iappliance/console -Ilib/include -Inet
CONF_FW_SRCS :=
ifneq ($(wildcard net/firewall/fw_rules.c),)
CONF_FW_SRCS := appliance/config/conf_fw.c net/firewall/fw_rules.c
endif

# Guest objects of these sources (whoever links them) need the include paths.
$(CONF_SRCS:%.c=$(BUILD)/user/%.o): USER_CFLAGS += $(CONF_CPPFLAGS)
$(BUILD)/user/appliance/config/conf_fw.o: USER_CFLAGS += $(CONF_CPPFLAGS) -Inet/firewall

UNIT_TESTS += config
$(BUILD)/tests/unit/test_config: tests/unit/test_config.c $(CONF_SRCS) $(CONF_HDRS)
$(BUILD)/tests/unit/test_config: UNIT_CFLAGS += $(CONF_CPPFLAGS)

ifneq ($(CONF_FW_SRCS),)
UNIT_TESTS += config_fw
$(BUILD)/tests/unit/test_config_fw: tests/unit/test_config_fw.c $(CONF_SRCS) $(CONF_FW_SRCS) $(CONF_HDRS) \
	appliance/config/conf_fw.h
$(BUILD)/tests/unit/test_config_fw: UNIT_CFLAGS += $(CONF_CPPFLAGS) -Inet/firewall
endif

# ------------------------------------------------------------------ fuzz ----
# Own variable names: net/firewall.mk (included after this file) defines
# FUZZ_CFLAGS for its fuzzers.  Same layout as theirs: the binary in
# $(BUILD)/tests/fuzz/, new inputs in $(BUILD)/tests/fuzz/work/config.
FUZZ_CC   ?= clang
FUZZ_SECS ?= 60
CONF_FUZZ_CFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all $(CONF_CPPFLAGS)

$(BUILD)/tests/fuzz/fuzz_config: tests/fuzz/fuzz_config.c $(CONF_SRCS) $(CONF_FW_SRCS) $(CONF_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CONF_FUZZ_CFLAGS) $(if $(CONF_FW_SRCS),-DCONF_FUZZ_FW -Inet/firewall) -o $@ $(filter %.c,$^)

FUZZERS += config

.PHONY: fuzz-config
fuzz-config: $(BUILD)/tests/fuzz/fuzz_config
	@mkdir -p $(BUILD)/tests/fuzz/work/config
	$(BUILD)/tests/fuzz/fuzz_config -max_total_time=$(FUZZ_SECS) -max_len=8192 -timeout=10 \
		-artifact_prefix=$(BUILD)/tests/fuzz/config- $(BUILD)/tests/fuzz/work/config tests/fuzz/corpus/config

# The console password hash (appliance/console/passwd.c) and tools/keel-passwd.
UNIT_TESTS += config_passwd
$(BUILD)/tests/unit/test_config_passwd: tests/unit/test_config_passwd.c appliance/console/passwd.c \
	appliance/console/passwd.h tools/keel-passwd
$(BUILD)/tests/unit/test_config_passwd: UNIT_CFLAGS += -Iappliance/console -Ilib/include
