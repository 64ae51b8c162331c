/* See batchfmt.h. Lengths and offsets come from a port's C code, but they are checked
 * against the arena all the same: struct.unpack_from would refuse a bad format, and we
 * would rather say -1 than build one. */
#include "batchfmt.h"

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
