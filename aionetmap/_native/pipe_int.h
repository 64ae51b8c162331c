/*
 * Internals shared by the software pipe's files (pipe_layout.c, pipe_sync.c, pipe_notify.c):
 * the control area's layout and the helpers all three use. pipe.h is the interface.
 *
 * Concurrency. Each end is driven by one process (one thread) at a time; the two ends may be
 * in two processes. Direction a->b is a single-producer/single-consumer queue over b's RX
 * ring: a's txsync is the only writer of b.rx.hwtail (and of the free slots in [hwtail,
 * hwcur-1)); b's rxsync is the only writer of b.rx.hwcur (and reads only [hwcur, hwtail)).
 * The producer fills slots, then publishes them with a release store of hwtail; the consumer
 * reads hwtail with acquire before it looks at those slots, so it sees them complete. The
 * consumer finishes with its slots (and the user's copies out of their buffers), then hands
 * them back with a release store of hwcur; the producer reads hwcur with acquire before it
 * reuses them. Neither index ever moves backwards and each has exactly one writer, so no
 * lock is needed; lock-free atomics are address-free, so this holds across processes.
 *
 * Wake-ups use the store-buffering (Dekker) pattern: each side stores its own flag or index,
 * issues a seq_cst fence, then loads the other side's. Two seq_cst fences guarantee that at
 * least one side sees the other's store, so either the sleeper sees the new state when it
 * re-checks, or the waker sees the sleeper's flag and signals it. Nothing is lost.
 */
#ifndef AIONETMAP_PIPE_INT_H
#define AIONETMAP_PIPE_INT_H

#include <stdatomic.h>

#include "anm_common.h"
#include "pipe.h"
#include "slot_chain.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "cross-process flags need lock-free atomics");

#define RELAXED memory_order_relaxed
#define ACQUIRE memory_order_acquire
#define RELEASE memory_order_release
#define SEQ_CST memory_order_seq_cst

/* netmap keeps these in kernel memory. Fields written by different processes sit on
 * different cache lines so the producer and the consumer do not false-share. */
struct ring_state {
    _Alignas(64) _Atomic uint32_t hwcur; /* written by the ring's consumer */
    _Alignas(64) _Atomic uint32_t hwtail; /* RX: written by the peer (producer) */
    _Alignas(64) uint32_t rtail;          /* tail last shown to the user (owner only) */
    uint32_t skip_chain;                  /* TX: dropping the rest of an over-long chain */
};

struct end_state {
    _Alignas(64) _Atomic uint32_t state; /* ANM_END_* */
    _Atomic int32_t owner;               /* pid of the attached process */
    _Alignas(64) _Atomic uint32_t armed; /* 1 = the fd was signalled and not yet cleared */
    _Alignas(64) _Atomic uint32_t tx_waiting; /* 1 = TX found the peer full: signal me */
    uint64_t nifp_off;
    struct ring_state tx, rx;
    _Alignas(64) struct anm_pipe_counters counters;
};

struct anm_pipe_ctrl {
    uint64_t magic;
    uint32_t version;
    uint32_t slots;
    uint32_t buf_size;
    uint32_t pad0;
    uint64_t size;
    struct end_state end[2];
};

static inline uint32_t prv(uint32_t i, uint32_t n) { return i == 0 ? n - 1 : i - 1; }

static inline struct end_state *me_of(const struct anm_pipe *p)
{
    return &((struct anm_pipe_ctrl *)p->ctrl)->end[p->end];
}

static inline struct end_state *peer_of(const struct anm_pipe *p)
{
    return &((struct anm_pipe_ctrl *)p->ctrl)->end[1 - p->end];
}

/* Signal the fd of end st unless it is already signalled (pipe_notify.c). The caller has
 * just published something st will look at. */
void pipe_notify(struct anm_pipe *p, struct end_state *st, int fd);

#endif /* AIONETMAP_PIPE_INT_H */
