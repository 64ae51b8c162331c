/* Small helpers shared by the ring walker, the pipe kernel and the AF_PACKET reader. */
#ifndef AIONETMAP_ANM_COMMON_H
#define AIONETMAP_ANM_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Fields in memory someone else writes (the kernel, a peer process) are accessed only through
 * these. Reading each exactly once (a plain read may legally be fetched again by the compiler
 * after it was checked) is what makes a range check hold; acquire/release orders slot
 * contents against the index that publishes them. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define LOAD_ACQ(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define STORE_REL(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

/* The slot after i on a ring of n slots (i < n). */
static inline uint32_t nxt(uint32_t i, uint32_t n) { return i + 1 == n ? 0 : i + 1; }

/* Slots from index `from` forward to index `to` on a ring of n slots (both < n). */
static inline uint32_t anm_dist(uint32_t from, uint32_t to, uint32_t n)
{
    return to >= from ? to - from : to + n - from;
}

/* Format a message into err (when given) and return -code: the error convention of every
 * setup function, whose caller turns the text into the Python exception's message. */
static inline int anm_fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline int anm_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -code;
}

#endif
