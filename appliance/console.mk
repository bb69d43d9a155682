# appliance/console.mk - consoled's pure parts (appliance/console/):
# the line editor, the command language and the password hash, included by
# the top-level Makefile (-include appliance/*.mk).
#
#   CONSOLE_SRCS  the pure code consoled links (no system calls)
#
# Host unit test test_lineedit: the editor through a terminal emulator, the
# command tree, random bytes.  (The password hash is tested by
# test_config_passwd, in appliance/config.mk, beside the parser that
# checks `console password-hash`.)

CONSOLE_SRCS     := appliance/console/lineedit.c appliance/console/cmd.c appliance/console/passwd.c
CONSOLE_HDRS     := appliance/console/lineedit.h appliance/console/cmd.h appliance/console/passwd.h
CONSOLE_CPPFLAGS := -Iappliance/console -Ilib/include

$(filter-out %/passwd.o,$(CONSOLE_SRCS:%.c=$(BUILD)/user/%.o)): USER_CFLAGS += $(CONSOLE_CPPFLAGS)

UNIT_TESTS += lineedit
$(BUILD)/tests/unit/test_lineedit: tests/unit/test_lineedit.c appliance/console/lineedit.c appliance/console/cmd.c \
	$(CONSOLE_HDRS)
$(BUILD)/tests/unit/test_lineedit: UNIT_CFLAGS += $(CONSOLE_CPPFLAGS)

# consoled: the console server.  It links the configuration code (CONF_SRCS,
# from appliance/config.mk, included before this file: the include list is
# sorted) and the console protocol's client library (drivers/uart/).
CONSOLED_SRCS := $(sort appliance/console/consoled.c appliance/console/lineedit.c appliance/console/cmd.c \
	$(CONF_SRCS) drivers/uart/console_client.c)
$(eval $(call user_prog,consoled,$(CONSOLED_SRCS)))
SERVERS += consoled
$(BUILD)/user/appliance/console/consoled.o: USER_CFLAGS += $(CONSOLE_CPPFLAGS) -Iappliance/config -Idrivers/uart \
	-DKEEL_VERSION='"$(VERSION)"'
