# appliance/tlsd.mk - tlsd, the TLS-terminating reverse proxy
# (appliance/tlsd/tlsd.c); included by the top-level Makefile after
# appliance/tls.mk (-include appliance/*.mk), whose archive, engine,
# keyd client and tls_link it uses.  The configuration parser
# ($(CONF_SRCS), appliance/config.mk) reads appliance.conf.
#
# Manifest lines: tests/qemu/test_tlsd.py (tlsd, keyd, netd with a
# `share sock-tlsd 515 share socktx-tlsd 512 signal sock-tlsd` grant, a virtio-rng server).
# tlsd_conf.c: the listeners and the console's two-phase commit of the
# `tls` blocks (abi/keel/tlsd.h TLSD_CONFIG_*; a client C configures when
# both it and tlsd have `share tlsadm-C 17`).

TLSD_OBJS := $(BUILD)/user/appliance/tlsd/tlsd.o $(BUILD)/user/appliance/tlsd/tlsd_conf.o \
	$(BUILD)/user/appliance/tlsd/tlsd_plan.o $(BUILD)/user/appliance/tlsd/tlsd_worker.o \
	$(BUILD)/user/appliance/tlsd/tlsd_proxy.o
TLSD_CONF_OBJS := $(CONF_SRCS:%.c=$(BUILD)/user/%.o)

$(TLSD_OBJS): USER_CFLAGS += -ffunction-sections -fdata-sections $(TLS_GUEST_INC) \
	$(CONF_CPPFLAGS)
$(TLSD_OBJS): $(MBEDTLS_STAMP) $(TLS_CONFIG) # not order-only: appliance/tls.mk says why

$(eval $(call tls_link,tlsd,$(TLSD_OBJS) $(KEYD_CLIENT_OBJS) $(TLS_ENGINE_GUEST_OBJS) $(TLS_CORE_OBJS) \
	$(TLSD_CONF_OBJS)))
SERVERS += tlsd
USER_OBJS += $(TLSD_OBJS)

# tlsstat: a guest reader of tlsd's statistics protocol (abi/keel/tlsd.h),
# booted by tests/qemu/test_tlsd.py.
$(eval $(call user_prog,tlsstat,tests/tls/tlsstat.c))
SERVERS += tlsstat

# tlsd_plan.c: the listener diff of a configuration commit (pure), linked
# into tlsd and host-tested with the real parser.
UNIT_TESTS += tlsd_plan
$(BUILD)/tests/unit/test_tlsd_plan: tests/unit/test_tlsd_plan.c appliance/tlsd/tlsd_plan.c \
	appliance/tlsd/tlsd_plan.h $(CONF_SRCS) $(CONF_HDRS)
$(BUILD)/tests/unit/test_tlsd_plan: UNIT_CFLAGS += $(CONF_CPPFLAGS) -Iappliance/tlsd

# tlsd_proxy.c: PROXY protocol headers (pure), host-tested byte for byte.
UNIT_TESTS += tlsd_proxy
$(BUILD)/tests/unit/test_tlsd_proxy: tests/unit/test_tlsd_proxy.c appliance/tlsd/tlsd_proxy.c \
	appliance/tlsd/tlsd_proxy.h $(CONF_SRCS) $(CONF_HDRS)
$(BUILD)/tests/unit/test_tlsd_proxy: UNIT_CFLAGS += $(CONF_CPPFLAGS) -Iappliance/tlsd

# tlsadm: a guest admin client of tlsd's configuration protocol through
# the client library in libkeel.a (lib/tlsadm_client.c), booted by tests/qemu/test_tlsd.py.
$(eval $(call user_prog,tlsadm,tests/tls/tlsadm.c))
SERVERS += tlsadm
