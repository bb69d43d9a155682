# appliance/console.mk - consoled's pure parts (appliance/console/):
# the line editor, the command language, the password hash and the log
# ring, included by the top-level Makefile (-include appliance/*.mk).
#
#   CONSOLE_SRCS  the pure code consoled links (no system calls)
#
# Host unit tests: test_lineedit (the editor through a terminal emulator,
# the command tree, random bytes); test_console_log (the log ring, its rows,
# and abi/keel/log.h's packing).  (The password hash is tested by
# test_config_passwd, in appliance/config.mk, beside the parser that
# checks `console password-hash`.)

CONSOLE_SRCS     := appliance/console/lineedit.c appliance/console/cmd.c appliance/config/passwd.c \
	appliance/console/logring.c
CONSOLE_HDRS     := appliance/console/lineedit.h appliance/console/cmd.h appliance/config/passwd.h \
	appliance/console/logring.h
CONSOLE_CPPFLAGS := -Iappliance/console -Ilib/include

UNIT_TESTS += lineedit
$(BUILD)/tests/unit/test_lineedit: tests/unit/test_lineedit.c appliance/console/lineedit.c appliance/console/cmd.c \
	appliance/config/conf_addr.c $(CONSOLE_HDRS)
$(BUILD)/tests/unit/test_lineedit: UNIT_CFLAGS += $(CONSOLE_CPPFLAGS) -Iappliance/config

# Host unit test test_console_log: the log ring, its levels and its rows.
UNIT_TESTS += console_log
$(BUILD)/tests/unit/test_console_log: tests/unit/test_console_log.c appliance/console/logring.c $(CONSOLE_HDRS) \
	abi/keel/log.h
$(BUILD)/tests/unit/test_console_log: UNIT_CFLAGS += $(CONSOLE_CPPFLAGS) -Iappliance/config

# Host unit test test_console_table: the aligned tables of netd's answers.
UNIT_TESTS += console_table
$(BUILD)/tests/unit/test_console_table: tests/unit/test_console_table.c appliance/console/table.c \
	appliance/console/table.h
$(BUILD)/tests/unit/test_console_table: UNIT_CFLAGS += $(CONSOLE_CPPFLAGS)

# consoled: the console server.  It links the configuration code (CONF_SRCS,
# from appliance/config.mk, which the Makefile's include list puts before
# this file); the client libraries it calls (console, netd's and tlsd's
# administration) are in libkeel.a (lib/).
CONSOLED_SRCS := $(sort appliance/console/consoled.c appliance/console/consoled_ops.c appliance/console/lineedit.c \
	appliance/console/consoled_cmds.c appliance/console/consoled_commit.c appliance/console/consoled_login.c \
	appliance/console/cmd.c \
	appliance/console/logring.c appliance/console/logsrv.c \
	appliance/console/table.c \
	$(CONF_SRCS))
CONSOLED_SRCS += appliance/console/store.c appliance/console/consoled_store.c # the saved configuration
CONSOLED_SRCS += appliance/console/consoled_opsd.c # syslog, the clock, metrics: the region shared with opsd
CONSOLED_SRCS += appliance/console/consoled_keyd.c # keyd's part of commits (new keys without a reboot)
$(eval $(call user_prog,consoled,$(CONSOLED_SRCS),$(CONSOLE_CPPFLAGS) -Iappliance/config -DKEEL_VERSION='"$(VERSION)"'))
SERVERS += consoled

# netadmtest: hostile and well-formed calls of netd's administration protocol
# in the `admintest` boot (tests/qemu/test_netadm.py).
$(eval $(call user_prog,netadmtest,tests/console/netadmtest.c))
SERVERS += netadmtest

# The saved configuration (store.c: records on a disk, pure) and consoled's
# glue to the disk driver (consoled_store.c).  Host unit test
# test_config_store: a RAM disk cut short at every byte, flipped bytes,
# truncation.
UNIT_TESTS += config_store
$(BUILD)/tests/unit/test_config_store: tests/unit/test_config_store.c appliance/console/store.c \
	appliance/console/store.h
$(BUILD)/tests/unit/test_config_store: UNIT_CFLAGS += $(CONSOLE_CPPFLAGS)
