# drivers/virtio/virtio.mk - the virtio drivers, included by the top-level
# Makefile (-include drivers/*/*.mk).
#
#   virtio-net   virtio network device -> NIC protocol (abi/keel/nic.h)
#   virtio-rng   virtio entropy device -> RNG protocol (abi/keel/rng.h)
#   virtio-blk   virtio block device -> block protocol (abi/keel/blk.h)
#
# virtio.c is the PCI transport; virtio_pci.c (capability parsing) and
# virtq.c (split virtqueues) are pure code, also built into host unit tests.
# VIRTIO_UNIT_TESTS names those tests in UNIT_TESTS form (test_<name>);
# they are added to UNIT_TESTS here (the top-level Makefile appends with +=).

VIRTIO_COMMON := drivers/virtio/virtio.c drivers/virtio/virtio_pci.c drivers/virtio/virtq.c

$(eval $(call user_prog,virtio-net,drivers/virtio/net.c $(VIRTIO_COMMON)))
$(eval $(call user_prog,virtio-rng,drivers/virtio/rng.c $(VIRTIO_COMMON)))
$(eval $(call user_prog,virtio-blk,drivers/virtio/blk.c $(VIRTIO_COMMON)))
SERVERS += virtio-net virtio-rng virtio-blk

VIRTIO_UNIT_TESTS := virtio_pci virtio_vq
$(BUILD)/tests/unit/test_virtio_pci: tests/unit/test_virtio_pci.c drivers/virtio/virtio_pci.c drivers/virtio/virtio.h
$(BUILD)/tests/unit/test_virtio_vq: tests/unit/test_virtio_vq.c drivers/virtio/virtq.c drivers/virtio/virtio.h
$(VIRTIO_UNIT_TESTS:%=$(BUILD)/tests/unit/test_%): UNIT_CFLAGS += -Idrivers/virtio
UNIT_TESTS += $(VIRTIO_UNIT_TESTS)
