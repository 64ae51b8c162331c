/*
 * The software pipe, part 3: readiness. Each end's notification fd (an eventfd, or a FIFO
 * across processes) is signalled at most once until its owner drains it (the armed flag),
 * and what one readiness callback does (anm_pipe_recv, anm_pipe_forward) is defined here.
 */
#include "pipe_int.h"

#include <unistd.h>

/* ---- readiness ------------------------------------------------------------------------- */

/* Signal the fd of end st unless it is already signalled. The caller has just published
 * something st will look at; the fence orders that before our look at st->armed. */
void pipe_notify(struct anm_pipe *p, struct end_state *st, int fd)
{
    atomic_thread_fence(SEQ_CST);
    if (atomic_load_explicit(&st->armed, RELAXED))
        return;
    if (atomic_exchange_explicit(&st->armed, 1, SEQ_CST))
        return; /* someone else flipped it first and writes */
    if (fd >= 0) {
        uint64_t one = 1; /* 8 bytes: what an eventfd needs; a FIFO takes anything */
        ssize_t w = write(fd, &one, sizeof one);
        (void)w; /* EAGAIN: the fd is already readable, which is all we want */
        me_of(p)->counters.notify_writes++;
    }
}

int anm_pipe_ready(struct anm_pipe *p)
{
    if (atomic_load(&peer_of(p)->state) != p->seen_peer_state)
        return 1;
    uint32_t hwtail = atomic_load_explicit(&me_of(p)->rx.hwtail, ACQUIRE);
    uint32_t head = LOAD(p->rx->head);
    /* a garbage head also counts: the next recv resets the ring */
    return head >= p->num_slots || head != hwtail;
}

/* Consume every notification sent so far. Drain first, then clear, then (in the caller)
 * look: a notifier that still saw armed == 1 skipped its write, but it published before it
 * looked, so whatever the caller does next (sync, burst, re-check) sees its change. */
static void disarm(struct anm_pipe *p)
{
    if (p->own_fd >= 0) {
        /* An eventfd read returns 8 bytes and zeroes it; a FIFO returns what is there, and
         * the armed flag keeps that to a few notifications. A short read means empty. The
         * reads are bounded (1024 empty a default 64 KiB FIFO): a peer that keeps writing
         * must not keep us here; what it left keeps the fd readable, so we are called again. */
        char buf[64];
        for (int k = 0; k < 1024 && read(p->own_fd, buf, sizeof buf) == (ssize_t)sizeof buf;
             k++)
            ;
    }
    atomic_store_explicit(&me_of(p)->armed, 0, SEQ_CST);
    atomic_thread_fence(SEQ_CST);
}

/* Level-triggered: signal ourselves again if something is still waiting. */
static void rearm(struct anm_pipe *p)
{
    if (anm_pipe_ready(p))
        pipe_notify(p, me_of(p), p->own_fd);
}

void anm_pipe_clear(struct anm_pipe *p)
{
    disarm(p);
    rearm(p);
}

int anm_pipe_claim(struct anm_pipe *p, uint32_t from, int32_t pid)
{
    struct end_state *me = me_of(p);
    uint32_t expected = from;
    if (!atomic_compare_exchange_strong(&me->state, &expected, ANM_END_OPEN))
        return 0;
    atomic_store(&me->owner, pid);
    atomic_store(&me->tx_waiting, 0);
    p->seen_peer_state = atomic_load(&peer_of(p)->state);
    anm_pipe_clear(p); /* drop stale notifications, re-arm if frames already wait */
    return 1;
}

void anm_pipe_set_state(struct anm_pipe *p, uint32_t state)
{
    atomic_store(&me_of(p)->state, state);
    if (state == ANM_END_CLOSED)
        pipe_notify(p, peer_of(p), p->peer_fd);
}


/* The first half of what a readiness callback does, shared by recv and forward so both keep
 * the same order. Disarm before the syncs, not after: a TX-room signal that arrives after our
 * txsync must stay in the fd, or we would sleep on frames the peer now has room for. */
static int service_begin(struct anm_pipe *p, struct anm_rings *r)
{
    disarm(p);
    p->seen_peer_state = atomic_load(&peer_of(p)->state);
    if (anm_pipe_rxsync(p) < 0)
        return -1;
    /* frames held back because the peer was full: the wake-up may be for them */
    if (atomic_load_explicit(&me_of(p)->tx.hwcur, RELAXED) != LOAD(p->tx->head) &&
        anm_pipe_txsync(p, r) < 0)
        return -1;
    return 0;
}

/* The second half: hand the consumed slots back to the sender at once, then re-arm the fd if
 * frames are still waiting (level-triggered). */
static int service_end(struct anm_pipe *p, unsigned got)
{
    if (got > 0 && anm_pipe_rxsync(p) < 0)
        return -1;
    rearm(p);
    return (int)got;
}

int anm_pipe_recv(struct anm_pipe *p, struct anm_rings *r, uint8_t *arena, size_t arena_len,
                  uint32_t *offs, uint32_t *lens, unsigned max)
{
    if (service_begin(p, r) < 0)
        return -1;
    return service_end(p, anm_rx_burst(r, arena, arena_len, offs, lens, max));
}

int anm_pipe_forward(struct anm_pipe *p, struct anm_rings *r, struct anm_rings *dst,
                     unsigned max)
{
    if (service_begin(p, r) < 0)
        return -1;
    return service_end(p, anm_forward(r, dst, max));
}
