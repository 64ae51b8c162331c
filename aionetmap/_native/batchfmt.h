/* A struct-module format for the frames of a FrameBatch, so Python's struct.unpack_from
 * can make every frame's bytes object in one C call. anm_batch_format is compiled into the
 * _ring module only (batch.py calls it there); _fast uses the inline field writer. */
#ifndef AIONETMAP_BATCHFMT_H
#define AIONETMAP_BATCHFMT_H

#include <stddef.h>
#include <stdint.h>

/* What Python sees, between the markers: the cffi builder reads it (header_cdef). */
/* cffi: begin */
/* Longest text one frame adds: two 10-digit numbers, 'x' and 's'. */
#define ANM_FORMAT_PER_FRAME 22
/* cffi: end */

/* Decimal digits of v at p (no NUL); returns how many. */
static inline size_t anm_put_decimal(char *p, uint32_t v)
{
    char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* Append "<skip>x<size>s" (pick size bytes after skipping skip) at out; returns its length,
 * at most ANM_FORMAT_PER_FRAME. The caller checks the room first. Inline here so that the
 * fast path (_fast) shares it with anm_batch_format (batchfmt.c, compiled into _ring only)
 * without a second copy of batchfmt.c in its module. */
static inline size_t anm_format_field(char *out, uint32_t skip, uint32_t size)
{
    size_t used = anm_put_decimal(out, skip);
    out[used++] = 'x';
    used += anm_put_decimal(out + used, size);
    out[used++] = 's';
    return used;
}

/* cffi: begin */
/* Write "<gap>x<len>s" for frames 0..n-1 (frame i at offs[i], lens[i]) into out: the
 * format that picks each frame out of the arena in order. Returns its length, or -1 if a
 * frame does not start at or after the end of the one before it, reaches past
 * arena_size, or out is too small (the caller slices instead). */
int anm_batch_format(const uint32_t *offs, const uint32_t *lens, unsigned n,
                     uint64_t arena_size, char *out, size_t outlen);
/* cffi: end */

#endif
