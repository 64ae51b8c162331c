/* A cursor over the fuzzer's input: every harness reads its parameters and its sequence of
 * operations through it. Reading past the end yields zeros, so every input is a valid one. */
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

/* Abort (a finding) with a message when an invariant the code promises does not hold. */
#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);     \
            __builtin_trap();                                                                 \
        }                                                                                     \
    } while (0)

#endif
