/* Physical frame allocator: 4 KiB frames on a caller-supplied bitmap
 * (bit set = used). Frame 0 is never handed out (0 means failure). */
#ifndef KEEL_MM_FRAME_H
#define KEEL_MM_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_SIZE 4096ull

struct frames {
    uint64_t *bitmap;
    uint64_t nframes;
    uint64_t nfree;
    uint64_t hint;   /* search starts here */
};

/* bitmap must hold frames_bitmap_bytes(nframes) bytes; all frames start used. */
void frames_init(struct frames *f, uint64_t *bitmap, uint64_t nframes);
/* Marks the whole frames inside [base, base+len) free (frame 0 never). */
void frames_add_free(struct frames *f, uint64_t base, uint64_t len);
/* npages contiguous frames whose first frame number is a multiple of
 * align_pages (0 counts as 1). Returns the physical address, 0 on failure. */
uint64_t frames_alloc(struct frames *f, uint64_t npages, uint64_t align_pages);
/* Returns 0, or -1 if phys is unaligned, the range is outside the bitmap
 * (nothing is changed then), or some frame in it was already free (the
 * used ones are still freed). */
int frames_free(struct frames *f, uint64_t phys, uint64_t npages);
uint64_t frames_free_count(const struct frames *f);
size_t frames_bitmap_bytes(uint64_t nframes);

#endif
