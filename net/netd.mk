# net/netd.mk - netd, the network server: lwIP 2.2 (NO_SYS) in user
# space, included by the top-level Makefile (-include net/*.mk).
#
# Two kinds of C here, with two sets of flags:
#   netd's own sources   USER_CFLAGS (strict, -Werror), plus the port's
#                        headers (-Inet/lwip) and lwIP's headers as system
#                        headers (-isystem: their warnings are not ours)
#   lwIP's core          USER_CFLAGS_THIRD: the same code generation, but
#                        without -Werror and the extra warnings (third-party
#                        code, never edited here), into $(LWIP_A)
# Both put net/lwip/libc/ first on the include path: lwIP's <string.h>,
# <stdlib.h>, <stdio.h> are forwards to lib/, never the host's glibc.
# lwIP's sources exist only after tools/fetch-deps.sh (`make deps`), which
# writes $(LWIP_STAMP) last; every object that needs lwIP depends on that
# stamp, so `make image` from a clean clone fetches first, and a re-fetch
# (new pin) rebuilds lwIP.  Debian's port/ directory is never built: the
# port is net/lwip/ (lwipopts.h, arch/cc.h, arch/sys_arch.h, sys_arch.c).

LWIP_DIR   := build/third_party/lwip
LWIP_STAMP := build/third_party/.stamp-lwip
# The port's headers.  lwipopts.h and arch/ are included from lwIP's own
# headers, which netd's sources reach as system headers (-isystem), and GCC's
# -MMD leaves out what a system header includes: without these explicit
# prerequisites an lwipopts.h change (which changes struct netif) would
# leave objects built with the old layout beside new ones.
LWIP_PORT_HDRS := net/lwip/lwipopts.h net/lwip/arch/cc.h net/lwip/arch/sys_arch.h net/lwip/netd_hooks.h

# Exactly the lwIP modules lwipopts.h turns on: IPv4, ARP, ICMP, DHCP, IPv6
# (ND, MLD, ICMPv6), UDP, TCP, raw PCBs, reassembly/fragmentation, Ethernet.
# (No DNS, IGMP, AutoIP, DHCPv6, altcp, sockets/netconn/api: they are off in
# lwipopts.h.)
LWIP_SRCS := $(addprefix $(LWIP_DIR)/src/, \
	core/init.c core/def.c core/inet_chksum.c core/ip.c core/mem.c core/memp.c core/netif.c \
	core/pbuf.c core/raw.c core/stats.c core/sys.c core/tcp.c core/tcp_in.c core/tcp_out.c \
	core/timeouts.c core/udp.c \
	core/ipv4/dhcp.c core/ipv4/etharp.c core/ipv4/icmp.c core/ipv4/ip4.c core/ipv4/ip4_addr.c \
	core/ipv4/ip4_frag.c \
	core/ipv6/ethip6.c core/ipv6/icmp6.c core/ipv6/inet6.c core/ipv6/ip6.c core/ipv6/ip6_addr.c \
	core/ipv6/ip6_frag.c core/ipv6/mld6.c core/ipv6/nd6.c \
	netif/ethernet.c)
LWIP_OBJS := $(LWIP_SRCS:$(LWIP_DIR)/%.c=$(BUILD)/user/lwip/%.o)
LWIP_A    := $(BUILD)/user/lwip/liblwip.a
LWIP_INC  := -Inet/lwip/libc -Inet/lwip -I$(LWIP_DIR)/src/include

USER_CFLAGS_THIRD := $(filter-out -std=gnu2x -Werror -Wextra -Wmissing-prototypes -Wstrict-prototypes -Wshadow,$(USER_CFLAGS)) -std=gnu11 \
	$(LWIP_INC)

# Fetch on demand: only when the stamp is missing (`make deps` refreshes a
# stale pin).  The sources are "made" by the fetch.
$(LWIP_STAMP):
	tools/fetch-deps.sh

$(LWIP_SRCS): | $(LWIP_STAMP) ;

$(BUILD)/user/lwip/%.o: $(LWIP_DIR)/%.c $(LWIP_STAMP) $(LWIP_PORT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS_THIRD) -c $< -o $@

$(LWIP_A): $(LWIP_OBJS)
	rm -f $@
	ar rcs $@ $^

# netd itself.  Linked like user_prog (Makefile) with liblwip.a between
# netd's objects (which lwIP calls back: sys_now, netd_rand32, ...) and
# libkeel.a (which lwIP uses: memcpy, snprintf, ...).  The firewall engine
# (net/firewall.mk's FW_OBJS, pure C) is compiled with the plain servers'
# flags and linked in; netd's own sources include its headers (-Inet/firewall).
NETD_SRCS := net/netd.c net/nic_netif.c net/nic_offload.c net/netd_config.c net/netd_rand.c net/netd_route.c \
	net/netd_sock.c net/netd_pcbpool.c net/netd_admin.c net/netd_ip6.c net/netd_admin6.c net/lwip/sys_arch.c \
	net/lwip/fwd_csum.c
# The firewall's glue (netd_fw.c's design comment): the filter path of each
# family, the configuration, the `block return` answers, the statistics.
NETD_SRCS += net/netd_fw.c net/netd_fw6.c net/netd_fw_conf.c net/netd_fw_return.c net/netd_fw_stats.c
NETD_OBJS := $(NETD_SRCS:%.c=$(BUILD)/user/%.o)

$(NETD_OBJS): USER_CFLAGS += -Inet -Inet/firewall -Iappliance/config -Inet/lwip/libc -Inet/lwip \
	-isystem $(LWIP_DIR)/src/include
# Not order-only: a new lwIP (new stamp) or port header rebuilds netd's
# objects too, since lwIP's structs are laid out in them (see above).
$(NETD_OBJS): $(LWIP_STAMP) $(LWIP_PORT_HDRS)

# The configuration parser (appliance/config.mk's CONF_SRCS) reads appliance.conf.
NETD_CONF_OBJS := $(CONF_SRCS:%.c=$(BUILD)/user/%.o)
$(eval $(call link_user,netd,$(NETD_OBJS) $(FW_OBJS) $(NETD_CONF_OBJS),$(LWIP_A)))

USER_OBJS += $(NETD_OBJS) $(FW_OBJS)
SERVERS += netd

-include $(LWIP_OBJS:.o=.d)

# Host unit test of the pure configuration parser.
UNIT_TESTS += netd_config
$(BUILD)/tests/unit/test_netd_config: net/tests/test_netd_config.c net/netd_config.c net/netd_config.h \
	lib/include/keel/ipv4.h
$(BUILD)/tests/unit/test_netd_config: UNIT_CFLAGS += -Inet -Ilib/include

# Host unit test of the static route table.
UNIT_TESTS += netd_route
$(BUILD)/tests/unit/test_netd_route: net/tests/test_netd_route.c net/netd_route.c net/netd_route.h \
	appliance/config/conf_addr.c appliance/config/conf_addr.h
$(BUILD)/tests/unit/test_netd_route: UNIT_CFLAGS += -Inet -Ilib/include -Iappliance/config

# Host unit test of the software checksums and TCP segmentation.
UNIT_TESTS += nic_offload
$(BUILD)/tests/unit/test_nic_offload: tests/unit/test_nic_offload.c net/nic_offload.c net/nic_offload.h
$(BUILD)/tests/unit/test_nic_offload: UNIT_CFLAGS += -Inet

# Host unit test of lwIP's heap with netd's options (MEM_OVERFLOW_CHECK on):
# mem_trim by less than the sanity regions (third_party/patches/lwip/).
# lwIP is built against the host's libc here (without net/lwip/libc/), whose
# ssize_t is long: SSIZE_MAX tells lwIP's arch.h not to define its own.
UNIT_TESTS += lwip_mem
$(BUILD)/tests/unit/test_lwip_mem: tests/unit/test_lwip_mem.c $(LWIP_DIR)/src/core/mem.c $(LWIP_DIR)/src/core/def.c \
	$(LWIP_DIR)/src/core/stats.c $(LWIP_STAMP) $(LWIP_PORT_HDRS)
$(BUILD)/tests/unit/test_lwip_mem: UNIT_CFLAGS += -Inet/lwip -isystem $(LWIP_DIR)/src/include -Ilib/include \
	-DSSIZE_MAX=__LONG_MAX__ -Wno-unused-parameter
