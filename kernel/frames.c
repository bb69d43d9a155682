/*
 * frames.c - the free-frame bitmap (see frames.h).
 *
 * Allocation scans 64 frames a word from `hint` and takes the lowest set bit,
 * so the lowest free frame is handed out first: page tables built early at
 * boot land in low memory, which the boot mapping reaches.  Contiguous runs
 * (DMA buffers) are found by a plain scan; they are rare and made at start.
 */
#include "frames.h"

static void set_bit(struct frame_bitmap *fb, uint64_t i) { fb->bits[i / 64] |= 1ull << (i % 64); }
static void clear_bit(struct frame_bitmap *fb, uint64_t i) { fb->bits[i / 64] &= ~(1ull << (i % 64)); }
bool frames_is_free(const struct frame_bitmap *fb, uint64_t i)
{
    return i < fb->nframes && (fb->bits[i / 64] >> (i % 64)) & 1;
}

void frames_init(struct frame_bitmap *fb, uint64_t *storage, uint64_t nframes)
{
    fb->bits = storage;
    fb->nframes = nframes;
    fb->free_count = 0;
    fb->hint = 0;
    for (uint64_t w = 0; w < (nframes + 63) / 64; w++)
        storage[w] = 0;
}

void frames_mark_free(struct frame_bitmap *fb, uint64_t first, uint64_t count)
{
    for (uint64_t i = first; i < first + count && i < fb->nframes; i++) {
        if (!frames_is_free(fb, i)) {
            set_bit(fb, i);
            fb->free_count++;
        }
    }
    if (first / 64 < fb->hint)
        fb->hint = first / 64;
}

void frames_mark_used(struct frame_bitmap *fb, uint64_t first, uint64_t count)
{
    for (uint64_t i = first; i < first + count && i < fb->nframes; i++) {
        if (frames_is_free(fb, i)) {
            clear_bit(fb, i);
            fb->free_count--;
        }
    }
}

uint64_t frames_alloc(struct frame_bitmap *fb)
{
    uint64_t words = (fb->nframes + 63) / 64;
    for (uint64_t w = fb->hint; w < words; w++) {
        if (!fb->bits[w])
            continue;
        uint64_t i = w * 64 + (uint64_t)__builtin_ctzll(fb->bits[w]);
        clear_bit(fb, i);
        fb->free_count--;
        fb->hint = w;
        return i;
    }
    fb->hint = words;
    return FRAMES_NONE;
}

uint64_t frames_alloc_contig(struct frame_bitmap *fb, uint64_t count, uint64_t align)
{
    if (count == 0 || align == 0 || (align & (align - 1)))
        return FRAMES_NONE;
    for (uint64_t start = 0; start + count <= fb->nframes; start += align) {
        uint64_t n = 0;
        while (n < count && frames_is_free(fb, start + n))
            n++;
        if (n == count) {
            frames_mark_used(fb, start, count);
            return start;
        }
    }
    return FRAMES_NONE;
}

bool frames_free(struct frame_bitmap *fb, uint64_t frame)
{
    if (frame >= fb->nframes || frames_is_free(fb, frame))
        return false;
    set_bit(fb, frame);
    fb->free_count++;
    if (frame / 64 < fb->hint)
        fb->hint = frame / 64;
    return true;
}
