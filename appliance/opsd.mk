# appliance/opsd.mk - opsd, the operations server (appliance/opsd/): the
# wall clock (RTC, SNTP), syslog and the metrics page, included by the
# top-level Makefile (-include appliance/*.mk).
#
# ops_proto.c is pure (syslog lines, SNTP, RTC registers) and host-tested
# by tests/unit/test_opsd.c.  opsd calls netd's admin client library
# (lib/netadm_client.c, in libkeel.a) for the metrics' tables.

OPSD_SRCS := appliance/opsd/opsd.c appliance/opsd/opsd_metrics.c appliance/opsd/ops_proto.c
$(eval $(call user_prog,opsd,$(OPSD_SRCS),-Iappliance/opsd))
SERVERS += opsd

UNIT_TESTS += opsd
$(BUILD)/tests/unit/test_opsd: tests/unit/test_opsd.c appliance/opsd/ops_proto.c appliance/opsd/ops_proto.h lib/clock.c \
	lib/fmt.c lib/include/keel/clock.h
$(BUILD)/tests/unit/test_opsd: UNIT_CFLAGS += -Iappliance/opsd -Ilib/include
