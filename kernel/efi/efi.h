/*
 * efi.h - the few UEFI types the EFI entry (efistub.c) uses, from the spec.
 *
 * Written from the UEFI Specification 2.10: system table 4.3, boot services
 * 4.4 and 7, loaded image protocol 9.1, device path 10.3.5.4 (media file
 * path), simple file system and file protocol 13.4-13.5, file info 13.5.16,
 * memory map 7.2 (GetMemoryMap), configuration table 4.6 (ACPI GUIDs).  Only
 * the members the stub calls are typed; the rest are placeholders, so each
 * table's layout is pinned by the _Static_asserts on the offsets we use.
 *
 * Every firmware function uses the Microsoft x64 calling convention
 * (EFIAPI); the stub itself is compiled with the System V one, so the
 * attribute sits on every function-pointer type below.  Strings are UCS-2
 * (CHAR16, built with -fshort-wchar).
 */
#ifndef KEEL_EFI_H
#define KEEL_EFI_H

#include <stddef.h>
#include <stdint.h>

#define EFIAPI __attribute__((ms_abi))

typedef uint64_t efi_status;
typedef void *efi_handle;
typedef uint16_t char16;

#define EFI_ERROR_BIT         (1ull << 63)
#define EFI_SUCCESS           0ull
#define EFI_LOAD_ERROR        (EFI_ERROR_BIT | 1)
#define EFI_INVALID_PARAMETER (EFI_ERROR_BIT | 2)
#define EFI_UNSUPPORTED       (EFI_ERROR_BIT | 3)
#define EFI_BUFFER_TOO_SMALL  (EFI_ERROR_BIT | 5)
#define EFI_OUT_OF_RESOURCES  (EFI_ERROR_BIT | 9)
#define EFI_NOT_FOUND         (EFI_ERROR_BIT | 14)

struct efi_guid {
    uint32_t a;
    uint16_t b, c;
    uint8_t d[8];
};
_Static_assert(sizeof(struct efi_guid) == 16, "EFI_GUID layout");

struct efi_table_header {
    uint64_t signature;
    uint32_t revision;
    uint32_t header_size;
    uint32_t crc32;
    uint32_t reserved;
};
_Static_assert(sizeof(struct efi_table_header) == 24, "EFI_TABLE_HEADER layout");

/* 12.4 EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL (only OutputString is used). */
struct efi_text_out {
    void *reset;
    efi_status(EFIAPI *output_string)(struct efi_text_out *self, const char16 *s);
};

/* 7.2 EFI_ALLOCATE_TYPE and EFI_MEMORY_TYPE. */
enum efi_allocate_type { EFI_ALLOCATE_ANY = 0, EFI_ALLOCATE_MAX_ADDRESS = 1, EFI_ALLOCATE_ADDRESS = 2 };

enum efi_memory_type {
    EFI_RESERVED = 0,
    EFI_LOADER_CODE = 1,
    EFI_LOADER_DATA = 2,
    EFI_BOOT_SERVICES_CODE = 3,
    EFI_BOOT_SERVICES_DATA = 4,
    EFI_RUNTIME_SERVICES_CODE = 5,
    EFI_RUNTIME_SERVICES_DATA = 6,
    EFI_CONVENTIONAL = 7,
    EFI_UNUSABLE = 8,
    EFI_ACPI_RECLAIM = 9,
    EFI_ACPI_NVS = 10,
    EFI_MMIO = 11,
    EFI_MMIO_PORT_SPACE = 12,
    EFI_PAL_CODE = 13,
    EFI_PERSISTENT = 14,
};

/* 7.2 EFI_MEMORY_DESCRIPTOR; the firmware's stride is DescriptorSize, which
 * may be larger than this struct (OVMF: 48). */
struct efi_memory_descriptor {
    uint32_t type;
    uint32_t pad;
    uint64_t physical_start;
    uint64_t virtual_start;
    uint64_t number_of_pages; /* 4 KiB pages */
    uint64_t attribute;
};
_Static_assert(offsetof(struct efi_memory_descriptor, physical_start) == 8, "EFI_MEMORY_DESCRIPTOR layout");
_Static_assert(offsetof(struct efi_memory_descriptor, number_of_pages) == 24, "EFI_MEMORY_DESCRIPTOR layout");
_Static_assert(sizeof(struct efi_memory_descriptor) == 40, "EFI_MEMORY_DESCRIPTOR layout");

/* 4.4 EFI_BOOT_SERVICES: the members the stub calls, placeholders between. */
struct efi_boot_services {
    struct efi_table_header hdr;
    void *raise_tpl, *restore_tpl;
    efi_status(EFIAPI *allocate_pages)(uint32_t type, uint32_t memory_type, uint64_t pages, uint64_t *addr);
    efi_status(EFIAPI *free_pages)(uint64_t addr, uint64_t pages);
    efi_status(EFIAPI *get_memory_map)(uint64_t *size, struct efi_memory_descriptor *map, uint64_t *key,
                                       uint64_t *desc_size, uint32_t *desc_version);
    efi_status(EFIAPI *allocate_pool)(uint32_t memory_type, uint64_t size, void **buf);
    efi_status(EFIAPI *free_pool)(void *buf);
    void *create_event, *set_timer, *wait_for_event, *signal_event, *close_event, *check_event;
    void *install_protocol_interface, *reinstall_protocol_interface, *uninstall_protocol_interface;
    efi_status(EFIAPI *handle_protocol)(efi_handle handle, const struct efi_guid *protocol, void **iface);
    void *reserved, *register_protocol_notify, *locate_handle, *locate_device_path, *install_configuration_table;
    void *load_image, *start_image, *exit, *unload_image;
    efi_status(EFIAPI *exit_boot_services)(efi_handle image, uint64_t map_key);
    void *get_next_monotonic_count, *stall;
    efi_status(EFIAPI *set_watchdog_timer)(uint64_t timeout, uint64_t code, uint64_t size, const char16 *data);
};
_Static_assert(offsetof(struct efi_boot_services, allocate_pages) == 40, "EFI_BOOT_SERVICES layout");
_Static_assert(offsetof(struct efi_boot_services, get_memory_map) == 56, "EFI_BOOT_SERVICES layout");
_Static_assert(offsetof(struct efi_boot_services, allocate_pool) == 64, "EFI_BOOT_SERVICES layout");
_Static_assert(offsetof(struct efi_boot_services, handle_protocol) == 152, "EFI_BOOT_SERVICES layout");
_Static_assert(offsetof(struct efi_boot_services, exit_boot_services) == 232, "EFI_BOOT_SERVICES layout");
_Static_assert(offsetof(struct efi_boot_services, set_watchdog_timer) == 256, "EFI_BOOT_SERVICES layout");

/* 4.6 EFI_CONFIGURATION_TABLE. */
struct efi_configuration_table {
    struct efi_guid vendor_guid;
    void *vendor_table;
};
_Static_assert(sizeof(struct efi_configuration_table) == 24, "EFI_CONFIGURATION_TABLE layout");

/* 4.3 EFI_SYSTEM_TABLE. */
struct efi_system_table {
    struct efi_table_header hdr;
    char16 *firmware_vendor;
    uint32_t firmware_revision;
    efi_handle console_in_handle;
    void *con_in;
    efi_handle console_out_handle;
    struct efi_text_out *con_out;
    efi_handle standard_error_handle;
    struct efi_text_out *std_err;
    void *runtime_services;
    struct efi_boot_services *boot_services;
    uint64_t number_of_table_entries;
    struct efi_configuration_table *configuration_table;
};
_Static_assert(offsetof(struct efi_system_table, con_out) == 64, "EFI_SYSTEM_TABLE layout");
_Static_assert(offsetof(struct efi_system_table, boot_services) == 96, "EFI_SYSTEM_TABLE layout");
_Static_assert(offsetof(struct efi_system_table, configuration_table) == 112, "EFI_SYSTEM_TABLE layout");

/* 10.2 EFI_DEVICE_PATH_PROTOCOL node header; 10.3.5.4 media file path. */
struct efi_device_path {
    uint8_t type;
    uint8_t subtype;
    uint8_t length[2]; /* whole node, little endian */
};
#define EFI_DP_TYPE_MEDIA      0x04
#define EFI_DP_SUBTYPE_FILE    0x04
#define EFI_DP_TYPE_END        0x7f
#define EFI_DP_SUBTYPE_END_ALL 0xff

/* 9.1 EFI_LOADED_IMAGE_PROTOCOL. */
struct efi_loaded_image {
    uint32_t revision;
    efi_handle parent_handle;
    struct efi_system_table *system_table;
    efi_handle device_handle;
    struct efi_device_path *file_path; /* relative to device_handle */
    void *reserved;
    uint32_t load_options_size; /* bytes */
    void *load_options;
    void *image_base;
    uint64_t image_size;
    uint32_t image_code_type, image_data_type;
    void *unload;
};
_Static_assert(offsetof(struct efi_loaded_image, device_handle) == 24, "EFI_LOADED_IMAGE layout");
_Static_assert(offsetof(struct efi_loaded_image, load_options_size) == 48, "EFI_LOADED_IMAGE layout");
_Static_assert(offsetof(struct efi_loaded_image, load_options) == 56, "EFI_LOADED_IMAGE layout");

/* 13.5 EFI_FILE_PROTOCOL. */
struct efi_file {
    uint64_t revision;
    efi_status(EFIAPI *open)(struct efi_file *self, struct efi_file **out, const char16 *name, uint64_t mode,
                             uint64_t attributes);
    efi_status(EFIAPI *close)(struct efi_file *self);
    void *delete_file;
    efi_status(EFIAPI *read)(struct efi_file *self, uint64_t *size, void *buf);
    void *write, *get_position, *set_position;
    efi_status(EFIAPI *get_info)(struct efi_file *self, const struct efi_guid *type, uint64_t *size, void *buf);
};
_Static_assert(offsetof(struct efi_file, read) == 32, "EFI_FILE_PROTOCOL layout");
_Static_assert(offsetof(struct efi_file, get_info) == 64, "EFI_FILE_PROTOCOL layout");
#define EFI_FILE_MODE_READ 1ull

/* 13.5.16 EFI_FILE_INFO (the name follows the fixed part). */
struct efi_file_info {
    uint64_t size;
    uint64_t file_size;
    uint64_t physical_size;
    uint8_t times[3][16];
    uint64_t attribute;
};
_Static_assert(offsetof(struct efi_file_info, file_size) == 8, "EFI_FILE_INFO layout");
_Static_assert(sizeof(struct efi_file_info) == 80, "EFI_FILE_INFO layout");
#define EFI_FILE_DIRECTORY 0x10ull

/* 13.4 EFI_SIMPLE_FILE_SYSTEM_PROTOCOL. */
struct efi_simple_file_system {
    uint64_t revision;
    efi_status(EFIAPI *open_volume)(struct efi_simple_file_system *self, struct efi_file **root);
};

#endif
