/*
 * frames.h - a bitmap of physical frames: which 4 KiB pages are free.
 *
 * Pure logic, host-tested (tests/unit/test_frames.c).  The kernel's physical
 * memory manager (pmm.c) owns one instance; the storage is the caller's.
 * Invariant: free_count equals the number of set bits below nframes, and no
 * bit at or above nframes is ever set.
 */
#ifndef KEEL_FRAMES_H
#define KEEL_FRAMES_H

#include <stdbool.h>
#include <stdint.h>

struct frame_bitmap {
    uint64_t *bits;      /* bit i set = frame i free */
    uint64_t nframes;    /* frames described */
    uint64_t free_count; /* set bits */
    uint64_t hint;       /* a word index at or below the lowest free frame */
};

#define FRAMES_NONE UINT64_MAX

/* storage must hold (nframes + 63) / 64 words.  All frames start used. */
void frames_init(struct frame_bitmap *fb, uint64_t *storage, uint64_t nframes);
/* Marks [first, first+count) free or used; parts beyond nframes are ignored. */
void frames_mark_free(struct frame_bitmap *fb, uint64_t first, uint64_t count);
void frames_mark_used(struct frame_bitmap *fb, uint64_t first, uint64_t count);
/* The lowest free frame, now used; FRAMES_NONE when none is left. */
uint64_t frames_alloc(struct frame_bitmap *fb);
/* COUNT contiguous free frames whose first index is a multiple of ALIGN
 * (a power of two, in frames), now used; FRAMES_NONE when there is no run. */
uint64_t frames_alloc_contig(struct frame_bitmap *fb, uint64_t count, uint64_t align);
/* Returns false (and changes nothing) for an out-of-range or already free frame. */
__attribute__((warn_unused_result)) bool frames_free(struct frame_bitmap *fb, uint64_t frame);
bool frames_is_free(const struct frame_bitmap *fb, uint64_t frame);

#endif
