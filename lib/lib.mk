# lib/lib.mk - the user-space C library, included by the top-level Makefile.
#
# LIB_SRCS        guest sources, linked into every user-space server; compile
#                 them with the servers' flags plus $(LIB_CPPFLAGS) (ulog.c,
#                 the system-call side, also needs -Iabi).  The kernel links
#                 none of this (it has its own copies).
# LIB_UNIT_TESTS  host unit tests, in UNIT_TESTS naming (test_<name>), each
#                 with its prerequisites below for the generic $(UNIT_BINS)
#                 recipe, which compiles $(filter %.c,$^).
#
# Naming: lib/string.c and lib/fmt.c define lib_memcpy, lib_snprintf, ...;
# lib/libc_names.c (guest only, never in a host test) adds the standard names
# as forwards.  So the host tests need no renaming flags, and a test binary
# keeps the host libc's memcpy.  The only extra host flag is the include
# path, added per target here.
#
# Needs: BUILD defined before this file is included.

LIB_CPPFLAGS   := -Ilib/include
LIB_SRCS       := lib/string.c lib/libc_names.c lib/fmt.c lib/heap.c lib/cpio.c lib/elf.c lib/server.c lib/nic_client.c \
	lib/sock_client.c lib/sock_ring.c lib/ulog.c lib/cpurand.c lib/blk_client.c lib/clock.c lib/args.c \
	lib/console_client.c lib/adm_call.c lib/netadm_client.c lib/tlsadm_client.c
LIB_UNIT_TESTS := lib_string lib_fmt lib_heap lib_cpio lib_elf lib_clock sock_ring lib_args

$(BUILD)/tests/unit/test_lib_string: tests/unit/test_lib_string.c lib/string.c lib/include/keel/string.h
$(BUILD)/tests/unit/test_lib_fmt: tests/unit/test_lib_fmt.c lib/fmt.c lib/include/keel/fmt.h
$(BUILD)/tests/unit/test_lib_heap: tests/unit/test_lib_heap.c lib/heap.c lib/include/keel/heap.h
$(BUILD)/tests/unit/test_lib_cpio: tests/unit/test_lib_cpio.c lib/cpio.c lib/include/keel/cpio.h
$(BUILD)/tests/unit/test_lib_elf: tests/unit/test_lib_elf.c lib/elf.c lib/include/keel/elf.h
$(BUILD)/tests/unit/test_lib_clock: tests/unit/test_lib_clock.c lib/clock.c lib/fmt.c lib/include/keel/clock.h
$(BUILD)/tests/unit/test_lib_args: tests/unit/test_lib_args.c lib/args.c lib/include/keel/args.h lib/include/keel/ipv4.h
$(BUILD)/tests/unit/test_sock_ring: tests/unit/test_sock_ring.c lib/sock_ring.c lib/include/keel/sock_ring.h abi/keel/socket.h

# <keel/...> headers live in lib/include; the generic recipe has only -Ikernel/include.
$(LIB_UNIT_TESTS:%=$(BUILD)/tests/unit/test_%): UNIT_CFLAGS += $(LIB_CPPFLAGS)
