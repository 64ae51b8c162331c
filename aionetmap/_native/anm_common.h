/* Small helpers shared by the ring walker and the pipe kernel (ring.c, pipe.c). */
#ifndef AIONETMAP_ANM_COMMON_H
#define AIONETMAP_ANM_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
