# Keel - top-level build.
#
#   make            build the kernel and the boot image (build/image/tftp/, build/image/pxe/)
#   make deps       install Debian packages, fetch lwIP/mbedTLS sources
#   make run        PXE-boot the image in QEMU, serial console on the terminal
#   make test       unit tests + QEMU boot tests; ends with "N passed, N failed"
#   make faults     fault-injection campaign (FAULTS=N, default 10000): FAULTS lines
#   make soak       mixed load for SOAK_MINUTES (default 30): SOAK lines
#   make bench      BENCH/INFO/RATIO lines: Keel and a Linux guest on the same QEMU
#   make bench-report  make bench, then its tables written into README.md
#   make clean
#
# Variables for run/test (see README.md): ACCEL=kvm|tcg BOOT=pxe|direct|disk FIRMWARE=bios|uefi
# NIC=virtio|virtio-modern|e1000[,..] MEM=MiB SERIAL=spec FWD=rules QEMU_EXTRA=... ARGS=... DISK=path

BUILD      := build
CC         := gcc
LD         := ld
OBJCOPY    := objcopy
PYTHON     := python3

# Debian packages the build, run and tests need (installed by tools/install-packages.sh).
PACKAGES   := gcc make binutils cpio python3 openssl curl qemu-system-x86 ipxe-qemu dpkg-dev patch iproute2 iputils-ping \
	iperf3 dnsmasq-base clang clang-format libclang-rt-14-dev libc6-dev ipxe ovmf rsyslog chrony prometheus radvd
# The Linux guest of make bench forwards with nftables: bench/linux.py puts the host's nft in its initramfs.
PACKAGES   += nftables
VERSION    := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

# ---------------------------------------------------------------- kernel ----
KERNEL_CFLAGS := -std=gnu11 -O2 -g -ffreestanding -fno-builtin -fno-pic -fno-pie \
	-mcmodel=kernel -mno-red-zone -mgeneral-regs-only -mno-mmx -mno-sse -mno-sse2 \
	-fno-stack-protector -fno-omit-frame-pointer -fno-asynchronous-unwind-tables \
	-Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
	-Ikernel/include -Iabi -MMD -MP -DKEEL_VERSION='"$(VERSION)"'
KERNEL_ASFLAGS := -Ikernel/include -Iabi -MMD -MP -g
KERNEL_SRCS := kernel/main.c kernel/log.c kernel/klog.c kernel/klog_ring.c kernel/fmt.c kernel/serial.c kernel/string.c \
	kernel/cmdline.c kernel/multiboot.c kernel/frames.c kernel/pmm.c kernel/vm.c \
	kernel/gdt.c kernel/trap.c kernel/acpi.c kernel/pic.c kernel/lapic.c kernel/ioapic.c \
	kernel/timer.c kernel/selftest.c kernel/kheap.c kernel/cap.c kernel/memory.c kernel/task.c \
	kernel/sched.c kernel/endpoint.c kernel/fastpath.c kernel/notification.c kernel/ktimer.c \
	kernel/irq.c kernel/fault.c kernel/syscall.c kernel/roottask.c kernel/usercheck.c \
	kernel/cpuvuln.c kernel/kcheck.c kernel/smp.c kernel/fpu.c kernel/faultinj.c kernel/iommu.c kernel/dmaspace.c
KERNEL_ASMS := kernel/arch/boot.S kernel/arch/trap_entry.S kernel/arch/switch.S \
	kernel/arch/syscall_entry.S kernel/arch/init_image.S kernel/arch/usercheck.S \
	kernel/arch/trampoline.S
KERNEL_OBJS := $(KERNEL_ASMS:%.S=$(BUILD)/%.o) $(KERNEL_SRCS:%.c=$(BUILD)/%.o)
KERNEL_ELF  := $(BUILD)/kernel/keel.elf
KERNEL_BIN  := $(BUILD)/kernel/keel.bin

# keel.efi: the same flat kernel inside a small EFI application (the UEFI
# entry, kernel/efi/).  Freestanding, position-independent, System V inside
# with ms_abi on every firmware call; linked at 0 with no run-time relocation
# (checked below), then turned into PE32+ by objcopy.
EFI_CFLAGS := -std=gnu11 -O2 -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns -fpie -fvisibility=hidden -mno-red-zone \
	-mgeneral-regs-only -fshort-wchar -fno-stack-protector -fno-asynchronous-unwind-tables \
	-Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
	-Ikernel/efi -Ikernel/include -MMD -MP -DKEEL_VERSION='"$(VERSION)"'
EFI_OBJS := $(BUILD)/efi/efistub.o $(BUILD)/efi/efi_handoff.o $(BUILD)/efi/reloc.o $(BUILD)/efi/kernel_image.o
EFI_ELF  := $(BUILD)/efi/keel-efi.elf
EFI_APP  := $(BUILD)/efi/keel.efi

# ------------------------------------------------------------ user space ----
# Every user program: freestanding, static, linked at 4 MiB by lib/user.ld,
# with lib/ (our libc, system call stubs) and nothing else.
# gnu2x for [[nodiscard]] on the system-call stubs (keel/sys.h), which a
# (void) cast can silence where a result is ignored on purpose; third-party
# code keeps gnu11 (USER_CFLAGS_THIRD, USER_CFLAGS_MBEDTLS).
USER_CFLAGS := -std=gnu2x -O2 -g -ffreestanding -fno-builtin -nostdlib -fno-pic -fno-pie \
	-mno-red-zone -fno-stack-protector -fno-omit-frame-pointer -fno-asynchronous-unwind-tables \
	-Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
	-Ilib/include -Iabi -MMD -MP
include lib/lib.mk
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/user/%.o) $(BUILD)/user/lib/crt0.o
LIB_A := $(BUILD)/user/libkeel.a

# USER_FPU: servers do no floating point or SIMD work, so the compiler may
# not use the FPU/SSE registers either (not even for struct copies): their
# threads never own FPU state, and the kernel's lazy switch (kernel/fpu.c)
# then moves none and writes no CR0 for their IPC.  The code that needs SSE
# (mbedTLS's AES-NI, the TLS engine and tlsd that link it, ktest's SSE
# tests) is built with USER_FPU empty (below, after the fragments).
USER_FPU := -mgeneral-regs-only

$(BUILD)/user/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) $(USER_FPU) -c $< -o $@

$(BUILD)/user/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) -Ilib/include -Iabi -MMD -MP -c $< -o $@

$(LIB_A): $(filter-out %/crt0.o,$(LIB_OBJS))
	rm -f $@
	ar rcs $@ $^

# link_user NAME, OBJECTS, ARCHIVES, LDFLAGS: build/user/NAME.elf, the one
# link rule of every user program: crt0 first, the program's objects, its
# archives (lwIP, mbedTLS), our lib last; laid out by lib/user.ld; then
# refused if init could not map a segment (tools/check-segments.sh).
define link_user
$(BUILD)/user/$(1).elf: $(2) $(3) $(BUILD)/user/lib/crt0.o $(LIB_A) lib/user.ld tools/check-segments.sh
	$(LD) -nostdlib -static -z max-page-size=4096 -z noexecstack $(4) -T lib/user.ld -o $$@ \
		$(BUILD)/user/lib/crt0.o $(2) $(3) $(LIB_A)
	@tools/check-segments.sh $$@
endef

# user_prog NAME, SOURCES[, FLAGS]: build/user/NAME.elf from C sources and
# lib alone.  FLAGS (include paths, defines) are the program's: they apply
# to its own objects, not to the ones of SHARED_SRCS that several programs
# link (the configuration parser), which keep their fragment's flags.
define user_prog
$(call link_user,$(1),$(2:%.c=$(BUILD)/user/%.o))
USER_OBJS += $(2:%.c=$(BUILD)/user/%.o)
$(if $(3),$(patsubst %.c,$(BUILD)/user/%.o,$(filter-out $(SHARED_SRCS),$(2))): USER_CFLAGS += $(3))
endef

# The servers that travel in the servers archive (one module, see below).
SERVERS := ktest crashme kbench
$(eval $(call user_prog,ktest,tests/ktest/ktest.c tests/ktest/spawn.c tests/ktest/fuzz.c))
$(eval $(call user_prog,crashme,tests/ktest/crashme.c))
$(eval $(call user_prog,kbench,bench/kbench.c tests/ktest/spawn.c))
# Each directory's fragment adds its programs (user_prog, link_user) and
# SERVERS entries.  Listed, not globbed: the order matters.  config.mk
# comes before every fragment that links the configuration parser
# (CONF_SRCS: console, tlsd, netd), tls.mk before tlsd.mk (TLS_CORE_OBJS,
# MBEDTLS_A), firewall.mk before netd.mk (FW_OBJS), netd.mk before
# socktest.mk (the socket service it tests).
include appliance/config.mk appliance/console.mk appliance/opsd.mk appliance/tls.mk appliance/tlsd.mk \
	drivers/e1000/e1000.mk drivers/uart/uart.mk drivers/virtio/virtio.mk \
	net/firewall.mk net/netd.mk net/socktest.mk tests/nic/nic.mk tests/faults/faults.mk \
	tests/ipcfuzz/ipcfuzz.mk
# Who may use the FPU/SSE registers (USER_FPU above): the TLS code, and ktest.
$(TLS_ALL_OBJS) $(TLSD_OBJS) $(BUILD)/user/tests/ktest/ktest.o: USER_FPU :=
# lwIP (net/netd.mk's own rule) is integer code like netd.
$(LWIP_OBJS): USER_CFLAGS_THIRD += $(USER_FPU)

# init reads appliance.conf with the appliance's own parser (init_config.c): CONF_SRCS,
# from appliance/config.mk, included above.
INIT_SRCS := init/init.c init/init_load.c init/init_grant.c init/init_supervise.c init/init_operator.c init/budget.c init/manifest.c init/pci.c init/init_config.c $(CONF_SRCS)
INIT_ELF := $(BUILD)/user/init.elf
$(eval $(call user_prog,init,$(INIT_SRCS),-Iappliance/config))

SERVER_ELFS := $(SERVERS:%=$(BUILD)/user/%.elf)
# Every fuzzer the fragments registered (net/firewall.mk has the recipes).
fuzz-smoke fuzz: $(FUZZERS:%=$(BUILD)/tests/fuzz/fuzz_%)

# ----------------------------------------------------------------- image ----
TFTP_DIR    := $(BUILD)/image/tftp
# The example site: image/example/appliance.conf with a certificate and key
# made here at build time (a private key is never committed).
EXAMPLE_SITE := $(BUILD)/site-example
CONF        ?= $(EXAMPLE_SITE)/appliance.conf
IMAGE_FILES := $(TFTP_DIR)/keel $(TFTP_DIR)/keel.efi $(TFTP_DIR)/servers.cpio $(TFTP_DIR)/site.cpio \
	$(TFTP_DIR)/boot.ipxe
# The boot tree a site's PXE server serves as it is (TFTP and HTTP root):
# the image above plus Debian's iPXE builds to chainload from a firmware's
# own PXE client (docs/PXE.md).  The iPXE files come from Debian's `ipxe`
# package at build time, never from the repository.
PXE_DIR     := $(BUILD)/image/pxe
IPXE_DIR    := /usr/lib/ipxe
IPXE_FILES  := undionly.kpxe snponly.efi ipxe.efi
PXE_FILES   := $(addprefix $(PXE_DIR)/,keel keel.efi servers.cpio site.cpio boot.ipxe $(IPXE_FILES))

# ----------------------------------------------------------- run options ----
ACCEL      ?= auto
BOOT       ?= pxe
# bios: SeaBIOS and the NIC's iPXE ROM (multiboot `keel`); uefi: OVMF (Debian's
# ovmf) and the ROM's iPXE UEFI build (`keel.efi`).  UEFI takes BOOT=pxe|disk.
FIRMWARE   ?= bios
NIC        ?= virtio
MEM        ?= 256
# vCPUs for `make run` and every QEMU test (tests/qemu/keelqemu.py reads
# KEEL_SMP); more than one runs TCG multi-threaded.
SMP        ?= 1
export KEEL_SMP := $(SMP)
SERIAL     ?= stdio
FWD        ?= tcp:127.0.0.1:8443-:443
QEMU_EXTRA ?=
# The appliance wants an entropy device (netd's random numbers, TLS keys).
RNG_DEVICE ?= -device virtio-rng-pci
ARGS       ?=
# DISK=path: a raw disk image for the saved configuration (virtio-blk),
# created (8 MiB, sparse) on first use; empty: no disk, commits last until
# the reboot.
DISK       ?=
DISK_DEVICE = $(if $(DISK),-drive file=$(DISK)$(comma)format=raw$(comma)if=none$(comma)id=keeldisk -device virtio-blk-pci$(comma)drive=keeldisk)
comma      := ,

.PHONY: all deps packages image run test unit-test qemu-test ktest ktest-smp faults soak ipcfuzz bench bench-report clean format format-check
.DEFAULT_GOAL := all

all: image

packages:
	@tools/install-packages.sh $(PACKAGES)

deps: packages
	@tools/fetch-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(KERNEL_CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(KERNEL_ASFLAGS) -c $< -o $@

# init's ELF is included in the kernel image (kernel/arch/init_image.S).
$(BUILD)/kernel/arch/init_image.o: kernel/arch/init_image.S $(INIT_ELF)
	@mkdir -p $(dir $@)
	$(CC) $(KERNEL_ASFLAGS) -DINIT_ELF='"$(INIT_ELF)"' -c $< -o $@

$(KERNEL_ELF): $(KERNEL_OBJS) kernel/kernel.ld
	$(LD) -nostdlib -static -z max-page-size=4096 -z noexecstack --no-warn-rwx-segments -T kernel/kernel.ld -o $@ $(KERNEL_OBJS)

# The multiboot header's a.out-kludge fields describe this flat image; it
# must be exactly load_end - load_start bytes (an empty .data would otherwise
# leave it short and the loader would read past the file).
$(KERNEL_BIN): $(KERNEL_ELF)
	$(OBJCOPY) -O binary $< $@
	@end=$$(nm $< | awk '/ _load_end_phys$$/ {print $$1}'); \
	 start=$$(nm $< | awk '/ _load_start$$/ {print $$1}'); \
	 truncate -s $$(( 0x$$end - 0x$$start )) $@

image: $(IMAGE_FILES) $(PXE_FILES)

$(TFTP_DIR)/keel.efi: $(EFI_APP)
	@mkdir -p $(dir $@)
	cp $< $@

$(addprefix $(PXE_DIR)/,keel keel.efi servers.cpio site.cpio boot.ipxe): $(PXE_DIR)/%: $(TFTP_DIR)/%
	@mkdir -p $(dir $@)
	cp $< $@

$(IPXE_FILES:%=$(IPXE_DIR)/%):
	@tools/install-packages.sh ipxe

$(addprefix $(PXE_DIR)/,$(IPXE_FILES)): $(PXE_DIR)/%: $(IPXE_DIR)/%
	@mkdir -p $(dir $@)
	cp $< $@

$(BUILD)/efi/%.o: kernel/efi/%.c
	@mkdir -p $(dir $@)
	$(CC) $(EFI_CFLAGS) -c $< -o $@

$(BUILD)/efi/reloc.o: kernel/efi/reloc.S
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

$(BUILD)/efi/kernel_image.o: kernel/efi/kernel_image.S $(KERNEL_BIN)
	@mkdir -p $(dir $@)
	$(CC) -DKERNEL_BIN='"$(KERNEL_BIN)"' -c $< -o $@

# A dynamic relocation would be left unapplied (nothing applies them in an
# EFI application): refuse to build rather than boot a broken pointer.
$(EFI_ELF): $(EFI_OBJS) kernel/efi/efi.ld
	$(LD) -nostdlib -pie --no-dynamic-linker -z max-page-size=4096 -z noexecstack -z norelro --hash-style=sysv \
		-T kernel/efi/efi.ld -o $@ $(EFI_OBJS)
	@if readelf -rW $@ | grep -q R_X86_64; then \
		echo "keel.efi: the stub needs run-time relocations (a pointer in initialised data?):" >&2; \
		readelf -rW $@ >&2; rm -f $@; exit 1; fi

$(EFI_APP): $(EFI_ELF)
	$(OBJCOPY) -O efi-app-x86_64 --subsystem=10 -j .text -j .reloc -j .data $< $@

$(TFTP_DIR)/keel: $(KERNEL_BIN)
	@mkdir -p $(dir $@)
	cp $< $@

# The servers archive: one module for every server binary (iPXE takes at
# most 8 modules).  Until servers exist it carries the boot manifest only.
$(TFTP_DIR)/servers.cpio: image/manifest tools/mkcpio.sh $(SERVER_ELFS)
	@mkdir -p $(dir $@)
	tools/mkcpio.sh $@ image/manifest $(SERVER_ELFS)

# The site archive: appliance.conf and the files it names, from CONF's folder
# (make image CONF=path/appliance.conf).  conf-check is the appliance's own
# parser built for the host: it lists the named files and reports errors.
CONF_CHECK := $(BUILD)/tools/conf-check
$(CONF_CHECK): tools/conf_check.c $(CONF_SRCS) $(CONF_HDRS)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -Iappliance/config -Ilib/include \
		-o $@ $(filter %.c,$^)

$(EXAMPLE_SITE)/appliance.conf: image/example/appliance.conf
	@mkdir -p $(dir $@)
	@test -f $(EXAMPLE_SITE)/edge1.key || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout $(EXAMPLE_SITE)/edge1.key -out $(EXAMPLE_SITE)/edge1.crt -days 825 -subj /CN=edge1 \
		-addext subjectAltName=DNS:edge1,DNS:localhost,IP:127.0.0.1 2>/dev/null
	cp $< $@

$(TFTP_DIR)/site.cpio: $(CONF) tools/mksite.sh $(CONF_CHECK) FORCE
	@mkdir -p $(dir $@)
	tools/mksite.sh $@.tmp $(CONF) $(CONF_CHECK)
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(TFTP_DIR)/boot.ipxe: image/boot.ipxe.in FORCE
	@mkdir -p $(dir $@)
	@sed 's|@ARGS@|$(ARGS)|' image/boot.ipxe.in > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

FORCE:

# The demo backend (image/example/www on the host's 127.0.0.1:8080, which the
# guest reaches as 10.0.2.2:8080) runs while QEMU does.
BACKEND_PORT ?= 8080
run: packages image
	@$(PYTHON) -m http.server $(BACKEND_PORT) --bind 127.0.0.1 --directory image/example/www >/dev/null 2>&1 & \
	 backend=$$!; trap 'kill $$backend 2>/dev/null' EXIT INT TERM; \
	 echo "keel: TLS on https://127.0.0.1:8443/ once the console says keel: ready; try:" >&2; \
	 echo "      curl -k https://127.0.0.1:8443/" >&2; \
	 if [ -n "$(DISK)" ] && [ ! -e "$(DISK)" ]; then truncate -s 8M "$(DISK)" && echo "keel: created $(DISK) (8 MiB) for the saved configuration" >&2; fi; \
	 $(PYTHON) tests/qemu/keelqemu.py run --image-dir $(TFTP_DIR) --boot $(BOOT) --firmware $(FIRMWARE) --accel $(ACCEL) \
		--nic $(NIC) --mem $(MEM) --smp $(SMP) --serial '$(SERIAL)' --fwd '$(FWD)' \
		--qemu-extra '$(RNG_DEVICE) $(DISK_DEVICE) $(QEMU_EXTRA)' -- $(ARGS)

# ----------------------------------------------------------------- tests ----
UNIT_TESTS += fmt frames multiboot cmdline kheap klog_ring manifest budget nic_ring efi_handoff $(LIB_UNIT_TESTS)
UNIT_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wshadow -Wno-format-truncation -Ikernel/include -Iabi -Itests/unit \
	-fsanitize=address,undefined -fno-sanitize-recover=all
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/unit/test_%)

$(BUILD)/tests/unit/test_fmt: tests/unit/test_fmt.c kernel/fmt.c
$(BUILD)/tests/unit/test_frames: tests/unit/test_frames.c kernel/frames.c
$(BUILD)/tests/unit/test_multiboot: tests/unit/test_multiboot.c kernel/multiboot.c
$(BUILD)/tests/unit/test_efi_handoff: tests/unit/test_efi_handoff.c kernel/efi/efi_handoff.c kernel/efi/efi.h \
	kernel/efi/efi_handoff.h kernel/include/handoff.h
$(BUILD)/tests/unit/test_efi_handoff: UNIT_CFLAGS += -Ikernel/efi
$(BUILD)/tests/unit/test_cmdline: tests/unit/test_cmdline.c kernel/cmdline.c
$(BUILD)/tests/unit/test_kheap: tests/unit/test_kheap.c kernel/kheap.c
$(BUILD)/tests/unit/test_klog_ring: tests/unit/test_klog_ring.c kernel/klog_ring.c kernel/include/klog_ring.h
$(BUILD)/tests/unit/test_manifest: tests/unit/test_manifest.c init/manifest.c
$(BUILD)/tests/unit/test_manifest: UNIT_CFLAGS += -Iinit
$(BUILD)/tests/unit/test_budget: tests/unit/test_budget.c init/budget.c init/budget.h
$(BUILD)/tests/unit/test_budget: UNIT_CFLAGS += -Iinit
$(BUILD)/tests/unit/test_nic_ring: tests/unit/test_nic_ring.c lib/include/keel/nic_ring.h abi/keel/nic.h
$(BUILD)/tests/unit/test_nic_ring: UNIT_CFLAGS += -Ilib/include
$(UNIT_BINS): tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) -o $@ $(filter %.c,$^)

unit-test: $(UNIT_BINS)
	@tests/run-suite.sh $(UNIT_BINS)

# The in-guest kernel tests also on 2 and 4 vCPUs (the 4-vCPU run with a
# fuzzer round of 2 tasks x 2 workers: under TCG on a 2-core host, hostile
# threads enough to keep all four vCPUs busy oversubscribe the host, and a
# vCPU spinning on the kernel lock while its holder is descheduled makes
# the round crawl: 3 x 4 workers took over the 120 s budget, 2 x 4 86 s,
# 2 x 2 about 1 s, so 3,000 calls each to reach every call kind;
# docs/ARCHITECTURE.md, section 10), and the
# TLS proxy and the forwarding end to end on 2 vCPUs (tlsd on core 1, netd
# and the drivers on core 0).  SMP=N makes every suite run on N vCPUs instead.
SMP_TESTS := "$(PYTHON) tests/qemu/test_ktest.py --smp 2 --fuzz-rounds 1" \
	"$(PYTHON) tests/qemu/test_ktest.py --smp 4 --fuzz-rounds 1 --fuzz-calls 3000 --fuzz-tasks 2 --fuzz-workers 2" \
	"KEEL_SMP=2 $(PYTHON) tests/qemu/test_tlsd.py" "KEEL_SMP=2 $(PYTHON) tests/qemu/test_fwd.py"
QEMU_TESTS := "$(PYTHON) tests/qemu/test_boot.py" "$(PYTHON) tests/qemu/test_ktest.py" \
	"$(PYTHON) tests/qemu/test_nic.py" "$(PYTHON) tests/qemu/test_iommu.py" \
	"$(PYTHON) tests/qemu/test_netd.py --nics virtio,e1000 --dhcp" \
	"$(PYTHON) tests/qemu/test_console.py" "$(PYTHON) tests/qemu/test_console_net.py" \
	"$(PYTHON) tests/qemu/test_netadm.py" "$(PYTHON) tests/qemu/test_fwd.py" "$(PYTHON) tests/qemu/test_pf.py" \
	"$(PYTHON) tests/qemu/test_nat.py" "$(PYTHON) tests/qemu/test_ipv6.py" \
	"$(PYTHON) tests/tls/test_tls_guest.py" \
	"$(PYTHON) tests/qemu/test_tlsd.py" "$(PYTHON) tests/qemu/test_capacity.py" "$(PYTHON) tests/qemu/test_run.py" \
	"$(PYTHON) tests/qemu/test_pxe.py" "$(PYTHON) tests/qemu/test_store.py" "$(PYTHON) tests/qemu/test_ops.py" \
	"$(PYTHON) tests/qemu/test_faults.py --faults 200" "$(PYTHON) tests/qemu/test_ipcfuzz.py --seeds 1,2" $(SMP_TESTS)

qemu-test: packages image
	@tests/run-suite.sh $(QEMU_TESTS)

# The in-guest kernel tests alone.  The system-call fuzzer's seed is random
# (printed) unless SEED=N is given; FUZZ_ROUNDS, FUZZ_CALLS, FUZZ_TASKS and
# FUZZ_WORKERS make a longer run, e.g. make ktest SEED=7 FUZZ_ROUNDS=50.
KTEST_ARGS := $(if $(SEED),--seed $(SEED)) $(if $(FUZZ_ROUNDS),--fuzz-rounds $(FUZZ_ROUNDS)) \
	$(if $(FUZZ_CALLS),--fuzz-calls $(FUZZ_CALLS)) $(if $(FUZZ_TASKS),--fuzz-tasks $(FUZZ_TASKS)) \
	$(if $(FUZZ_WORKERS),--fuzz-workers $(FUZZ_WORKERS))
ktest: packages image
	@tests/run-suite.sh "$(PYTHON) tests/qemu/test_ktest.py $(strip $(KTEST_ARGS))"

# The IPC protocol fuzzers alone (tests/qemu/test_ipcfuzz.py): SEED=N (a
# comma-separated list runs one pair of boots per seed; default 1,2),
# FUZZ_BATCHES and FUZZ_CALLS (per protocol: batches, calls per batch) make
# a longer run, e.g. make ipcfuzz SEED=12345 FUZZ_BATCHES=100 FUZZ_CALLS=500.
IPCFUZZ_ARGS := $(if $(SEED),--seeds $(SEED)) $(if $(FUZZ_BATCHES),--batches $(FUZZ_BATCHES)) \
	$(if $(FUZZ_CALLS),--calls $(FUZZ_CALLS))
ipcfuzz: packages image
	@tests/run-suite.sh "$(PYTHON) tests/qemu/test_ipcfuzz.py $(strip $(IPCFUZZ_ARGS))"

# The in-guest kernel tests on 1, 2 and 4 vCPUs.
ktest-smp: packages image
	@tests/run-suite.sh "$(PYTHON) tests/qemu/test_ktest.py --smp 1 $(strip $(KTEST_ARGS))" \
		"$(PYTHON) tests/qemu/test_ktest.py --smp 2 $(strip $(KTEST_ARGS))" \
		"$(PYTHON) tests/qemu/test_ktest.py --smp 4 $(strip $(KTEST_ARGS))"

# The fuzzers run briefly on their fixed corpora (longer: make fuzz).
FUZZ_SMOKE := "$(MAKE) --no-print-directory -s fuzz-smoke"
# Every C file as `make format` leaves it (.clang-format).
FORMAT_CHECK := "$(MAKE) --no-print-directory -s format-check"

# Everything the tests run is built first, on every core: CI calls plain
# `make test`, and a serial build of the image, 80 sanitizer-built unit
# tests and the fuzzers took minutes of the 20-minute budget.
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) $(UNIT_BINS) image $(FUZZERS:%=$(BUILD)/tests/fuzz/fuzz_%)
	@tests/run-suite.sh $(FORMAT_CHECK) $(UNIT_BINS) $(FUZZ_SMOKE) $(QEMU_TESTS)

# Fault injection (tests/qemu/test_faults.py): FAULTS faults into the NIC
# drivers, netd, tlsd and keyd under TLS and forwarded load, then the
# `FAULTS name=... value=...` lines; SEED=N repeats a campaign's choices.
FAULTS ?= 10000
faults: packages image
	@$(PYTHON) tests/qemu/test_faults.py --faults $(FAULTS) --report $(if $(SEED),--seed $(SEED))

# Mixed load for SOAK_MINUTES (tests/qemu/soak.py), then `SOAK name=... value=...` lines.
SOAK_MINUTES ?= 30
soak: packages image
	@$(PYTHON) tests/qemu/soak.py --minutes $(SOAK_MINUTES)

# BENCH_ARGS: bench/run.py's options, e.g. `--boot-runs 1 --net-runs 1 --no-min-mem` (quicker).
BENCH_ARGS ?=
bench: packages image
	@$(PYTHON) bench/run.py --image-dir $(TFTP_DIR) --accel $(ACCEL) $(BENCH_ARGS)

# make bench, then its results written into README.md between the bench-report markers.
bench-report: packages image
	@$(PYTHON) bench/report.py -- --image-dir $(TFTP_DIR) --accel $(ACCEL) $(BENCH_ARGS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Every tracked C file as `make format` leaves it (in make test).
format-check: packages
	@tools/format-check.sh

clean:
	rm -rf $(BUILD)/kernel $(BUILD)/efi $(BUILD)/user $(BUILD)/image $(BUILD)/tests $(BUILD)/test-logs

-include $(KERNEL_OBJS:.o=.d) $(LIB_OBJS:.o=.d) $(USER_OBJS:.o=.d)
