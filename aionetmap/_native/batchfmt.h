/* A struct-module format for the frames of a FrameBatch, so Python's struct.unpack_from
 * can make every frame's bytes object in one C call. */
#ifndef AIONETMAP_BATCHFMT_H
#define AIONETMAP_BATCHFMT_H

#include <stddef.h>
#include <stdint.h>

/* Longest text one frame adds: two 10-digit numbers, 'x' and 's'. */
#define ANM_FORMAT_PER_FRAME 22

/* Append "<skip>x<size>s" (pick size bytes after skipping skip) at out; returns its length,
 * at most ANM_FORMAT_PER_FRAME. The caller checks the room first. */
size_t anm_format_field(char *out, uint32_t skip, uint32_t size);

/* Write "<gap>x<len>s" for frames 0..n-1 (frame i at offs[i], lens[i]) into out: the
 * format that picks each frame out of the arena in order. Returns its length, or -1 if a
 * frame does not start at or after the end of the one before it, reaches past
 * arena_size, or out is too small (the caller slices instead). */
int anm_batch_format(const uint32_t *offs, const uint32_t *lens, unsigned n,
                     uint64_t arena_size, char *out, size_t outlen);

#endif
