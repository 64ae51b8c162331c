/* A cursor over the fuzzer's input: every harness reads its parameters and its sequence of
 * operations through it. Reading past the end yields zeros, so every input is a valid one.
 * Also what the harnesses check with: a reference checksum and CHECK. */
#ifndef AIONETMAP_FUZZ_INPUT_H
#define AIONETMAP_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct input {
    const uint8_t *p;
    size_t n;
};

static inline int in_left(const struct input *in) { return in->n > 0; }

static inline uint8_t in_u8(struct input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t in_u16(struct input *in)
{
    return (uint16_t)(in_u8(in) | in_u8(in) << 8);
}

static inline uint32_t in_u32(struct input *in)
{
    return (uint32_t)in_u16(in) | (uint32_t)in_u16(in) << 16;
}

/* Copy up to n bytes into dst (zero-filling what the input no longer has). */
static inline void in_bytes(struct input *in, void *dst, size_t n)
{
    size_t k = n < in->n ? n : in->n;
    memcpy(dst, in->p, k);
    memset((uint8_t *)dst + k, 0, n - k);
    in->p += k;
    in->n -= k;
}

/* A value in [lo, hi]. */
static inline uint32_t in_range(struct input *in, uint32_t lo, uint32_t hi)
{
    return lo + in_u32(in) % (hi - lo + 1);
}

/* RFC 1071 the slow way, the reference the C checksums are checked against: network-order
 * 16-bit words, an odd last byte padded with zero, folded, complemented. */
static inline uint16_t ref_checksum(const uint8_t *p, size_t n, uint64_t initial)
{
    uint64_t s = initial;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xFFFF) + (s >> 16);
    return (uint16_t)~s;
}

/* Abort (a finding) with a message when an invariant the code promises does not hold. */
#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);     \
            __builtin_trap();                                                                 \
        }                                                                                     \
    } while (0)

#endif
