/*
 * roottask.c - building init, the first user task, from its ELF image.
 *
 * init is linked into the kernel image (init_image.S includes the ELF that
 * the build made from init/), so the kernel needs no archive reader: it
 * only maps init's segments, a stack, the boot-information page and the
 * boot modules (read-only), and hands init the capabilities listed in
 * abi/keel/boot.h.  Everything else (reading the servers archive, loading
 * servers, giving each its capabilities) is init's job, in user space.
 * The image is built together with the kernel, but it is still checked:
 * a broken image stops the boot with a clear message.
 */
#include <keel/boot.h>

#include "acpi.h"
#include "ipc.h"
#include "kheap.h"
#include "klog.h"
#include "kstring.h"
#include "log.h"
#include "memory.h"
#include "pmm.h"
#include "sched.h"
#include "task.h"
#include "timer.h"
#include "vm.h"

#define KERNEL_RESERVE_BYTES (4ull << 20) /* kept back for kernel-internal pages */
#define INIT_PRIORITY        20

extern const uint8_t init_image_start[], init_image_end[];

struct elf64_ehdr {
    uint8_t ident[16];
    uint16_t type, machine;
    uint32_t version;
    uint64_t entry, phoff, shoff;
    uint32_t flags;
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct elf64_phdr {
    uint32_t type, flags;
    uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
_Static_assert(sizeof(struct elf64_ehdr) == 64, "ELF header (ELF-64 spec, 'ELF Header')");
_Static_assert(sizeof(struct elf64_phdr) == 56, "ELF program header (ELF-64 spec, 'Program header')");
#define PT_LOAD 1
#define PF_X    1
#define PF_W    2
#define PF_R    4

static struct task *init_task;
static struct memory *root_memory;

static uint8_t segment_rights(uint32_t flags)
{
    uint8_t r = RIGHT_READ;
    if (flags & PF_W)
        r |= RIGHT_WRITE;
    else if (flags & PF_X)
        r |= RIGHT_EXEC;
    return r;
}

/* Creates a frame object of PAGES from the root budget, mapped into init. */
static struct frame *map_new(uint64_t va, uint64_t pages, uint8_t rights)
{
    struct kobj *o;
    if (memory_create_object(root_memory, OBJ_FRAME, pages, NULL, &o))
        panic("init: out of memory for its image");
    struct frame *f = (struct frame *)o;
    if (f->list)
        panic("init: no contiguous run of %llu pages for its image", (unsigned long long)pages);
    int err = task_map(init_task, f, va, rights);
    if (err)
        panic("init: cannot map 0x%llx (error %d)", (unsigned long long)va, err);
    return f;
}

static uint64_t load_segments(void)
{
    uint64_t size = (uint64_t)(init_image_end - init_image_start);
    const struct elf64_ehdr *eh = (const void *)init_image_start;
    if (size < sizeof *eh || memcmp(eh->ident, "\177ELF\2\1", 6) || eh->machine != 62 || eh->type != 2 ||
        eh->phentsize != sizeof(struct elf64_phdr) || eh->phoff > size ||
        eh->phnum > (size - eh->phoff) / sizeof(struct elf64_phdr))
        panic("init: the built-in image is not a static x86-64 ELF executable");
    const struct elf64_phdr *ph = (const void *)(init_image_start + eh->phoff);
    for (uint16_t i = 0; i < eh->phnum; i++) {
        if (ph[i].type != PT_LOAD || ph[i].memsz == 0)
            continue;
        if ((ph[i].flags & PF_W) && (ph[i].flags & PF_X))
            panic("init: segment %u is writable and executable", i);
        if (ph[i].filesz > ph[i].memsz || ph[i].offset > size || ph[i].filesz > size - ph[i].offset)
            panic("init: segment %u lies outside the image", i);
        uint64_t start = ph[i].vaddr & ~(PAGE_SIZE - 1);
        uint64_t end = (ph[i].vaddr + ph[i].memsz + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        struct frame *f = map_new(start, (end - start) / PAGE_SIZE, segment_rights(ph[i].flags));
        memcpy((uint8_t *)phys_to_virt(f->phys) + (ph[i].vaddr - start), init_image_start + ph[i].offset, ph[i].filesz);
    }
    return eh->entry;
}

static void fill_bootinfo(struct keel_bootinfo *bi, const struct boot_info *boot)
{
    bi->magic = KEEL_BOOTINFO_MAGIC;
    bi->tsc_hz = tsc_hz();
    size_t n = strlen(boot->cmdline);
    memcpy(bi->cmdline, boot->cmdline, n < sizeof bi->cmdline ? n : sizeof bi->cmdline - 1);
    uint64_t va = KEEL_MODULES_BASE;
    for (uint32_t i = 0; i < boot->n_modules && i < KEEL_BOOT_MAX_MODULES; i++) {
        const struct boot_module *m = &boot->modules[i];
        struct keel_boot_module *bm = &bi->modules[bi->n_modules++];
        memcpy(bm->name, m->name, strlen(m->name) < sizeof bm->name ? strlen(m->name) : sizeof bm->name - 1);
        memcpy(bm->args, m->args, strlen(m->args) < sizeof bm->args ? strlen(m->args) : sizeof bm->args - 1);
        if (m->end == m->start)
            continue; /* empty: nothing to map (its page was never reserved) */
        uint64_t first = m->start & ~(PAGE_SIZE - 1);
        uint64_t pages = (m->end - first + PAGE_SIZE - 1) / PAGE_SIZE;
        struct frame *f = frame_wrap(first, pages, false, false);
        if (!f || task_map(init_task, f, va, RIGHT_READ))
            panic("init: cannot map boot module %u", i);
        cap_install(init_task, INIT_SLOT_MODULE0 + i, &f->hdr, RIGHT_READ | RIGHT_GRANT, 0);
        bm->vaddr = va + (m->start - first);
        bm->size = m->end - m->start;
        va += (pages + 1) * PAGE_SIZE; /* a guard page between modules */
    }
}

static struct kobj *control_object(uint8_t type)
{
    struct control *c = kheap_alloc(sizeof *c);
    if (!c)
        panic("init: no memory for its control capabilities");
    c->hdr.type = type;
    return &c->hdr;
}

void roottask_start(const struct boot_info *boot, const struct acpi_info *acpi);
void roottask_start(const struct boot_info *boot, const struct acpi_info *acpi)
{
    uint64_t free_bytes = pmm_free_frames() * PAGE_SIZE;
    if (free_bytes < KERNEL_RESERVE_BYTES * 2)
        panic("init: only %llu KiB free; too little memory to start", (unsigned long long)(free_bytes >> 10));
    root_memory = memory_create_root(free_bytes - KERNEL_RESERVE_BYTES);
    init_task = task_create("init");
    if (!init_task)
        panic("init: cannot create the task");
    klog_set_init(init_task);
    uint64_t entry = load_segments();
    map_new(KEEL_INIT_STACK_TOP - KEEL_INIT_STACK_PAGES * PAGE_SIZE, KEEL_INIT_STACK_PAGES, RIGHT_READ | RIGHT_WRITE);
    struct frame *bip = map_new(KEEL_BOOTINFO_ADDR, 1, RIGHT_READ);
    struct keel_bootinfo *bi = phys_to_virt(bip->phys);
    fill_bootinfo(bi, boot);
    bi->ecam_phys = acpi->ecam_phys;
    bi->ecam_bus_start = acpi->ecam_bus_start;
    bi->ecam_bus_end = acpi->ecam_bus_end;

    struct thread *th = thread_create(init_task);
    if (!th)
        panic("init: cannot create its thread");
    cap_install(init_task, INIT_SLOT_TASK, &init_task->hdr, RIGHTS_ALL, 0);
    cap_install(init_task, INIT_SLOT_THREAD, &th->hdr, RIGHTS_ALL, 0);
    cap_install(init_task, INIT_SLOT_MEMORY, &root_memory->hdr, RIGHTS_ALL, 0);
    cap_install(init_task, INIT_SLOT_IRQ_CONTROL, control_object(CAP_IRQ_CONTROL), RIGHTS_ALL, 0);
    cap_install(init_task, INIT_SLOT_IOPORT_CONTROL, control_object(CAP_IOPORT_CONTROL), RIGHTS_ALL, 0);
    cap_install(init_task, INIT_SLOT_MMIO_CONTROL, control_object(CAP_MMIO_CONTROL), RIGHTS_ALL, 0);
    cap_install(init_task, INIT_SLOT_DEBUG, control_object(CAP_DEBUG), RIGHTS_ALL, 0);
    bi->memory_bytes = root_memory->remaining;
    thread_start(th, entry, KEEL_INIT_STACK_TOP, KEEL_BOOTINFO_ADDR, INIT_PRIORITY, 0, 0); /* no CPU limit */
    kprintf("keel: init started: entry 0x%llx, %llu KiB of memory to hand out\n", (unsigned long long)entry,
            (unsigned long long)(bi->memory_bytes >> 10));
}
