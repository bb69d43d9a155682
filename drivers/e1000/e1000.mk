# drivers/e1000/e1000.mk - the Intel 8254x (QEMU -device e1000) NIC driver,
# included by the top-level Makefile.
#
# e1000.c is the server (system calls, registers); queue.c is the pure data
# path, also linked into its host unit test.

$(eval $(call user_prog,e1000,drivers/e1000/e1000.c drivers/e1000/queue.c))
SERVERS += e1000

# Host unit tests (test_<name>), added to UNIT_TESTS like VIRTIO_UNIT_TESTS.
E1000_UNIT_TESTS := e1000_queue
$(BUILD)/tests/unit/test_e1000_queue: tests/unit/test_e1000_queue.c drivers/e1000/queue.c \
	drivers/e1000/queue.h drivers/e1000/regs.h
$(E1000_UNIT_TESTS:%=$(BUILD)/tests/unit/test_%): UNIT_CFLAGS += -Ilib/include -Idrivers/e1000
UNIT_TESTS += $(E1000_UNIT_TESTS)
