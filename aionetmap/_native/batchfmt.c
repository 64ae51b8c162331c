/* See batchfmt.h. Lengths and offsets come from a port's C code, but they are checked
 * against the arena all the same: struct.unpack_from would refuse a bad format, and we
 * would rather say -1 than build one. */
#include "batchfmt.h"

/* Decimal digits of v at p (no NUL); returns how many. */
static size_t put_decimal(char *p, uint32_t v)
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

size_t anm_format_field(char *out, uint32_t skip, uint32_t size)
{
    size_t used = put_decimal(out, skip);
    out[used++] = 'x';
    used += put_decimal(out + used, size);
    out[used++] = 's';
    return used;
}

int anm_batch_format(const uint32_t *offs, const uint32_t *lens, unsigned n,
                     uint64_t arena_size, char *out, size_t outlen)
{
    uint64_t cursor = 0;
    size_t used = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t start = offs[i], end = start + lens[i];
        if (start < cursor || end > arena_size || outlen - used < ANM_FORMAT_PER_FRAME)
            return -1;
        used += anm_format_field(out + used, (uint32_t)(start - cursor), lens[i]);
        cursor = end;
    }
    return used > INT32_MAX ? -1 : (int)used;
}
