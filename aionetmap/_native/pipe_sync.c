/*
 * The software pipe, part 2: the "kernel" side of NIOCTXSYNC and NIOCRXSYNC. Every index
 * read from the region (ring head/cur, slot buffer indices and lengths, the control area's
 * hwcur/hwtail/rtail) is read once and range-checked; a damaged ring is reset from the
 * private copies and the shadow slot array, a damaged control area is an error.
 */
#include "pipe_int.h"

/* ---- sync ------------------------------------------------------------------------------ */

static int damaged(struct anm_pipe *p)
{
    me_of(p)->counters.corrupt++;
    return -1;
}

/* netmap's rule: hwcur <= head <= cur <= tail, cyclically. */
static int in_order(uint32_t hwcur, uint32_t head, uint32_t cur, uint32_t tail, uint32_t n)
{
    if (head >= n || cur >= n)
        return 0;
    uint32_t dh = anm_dist(hwcur, head, n), dc = anm_dist(hwcur, cur, n);
    uint32_t dt = anm_dist(hwcur, tail, n);
    return dh <= dc && dc <= dt;
}

/* Restore a slot's buffer index from the shadow copy if it is out of range; clamp len. */
static void fix_slot(struct anm_pipe *p, struct netmap_slot *s, const uint32_t *shadow)
{
    uint32_t idx = LOAD(s->buf_idx);
    if (idx < 2 || idx >= p->nbufs) {
        uint32_t good = LOAD(*shadow);
        if (good >= 2 && good < p->nbufs) {
            STORE(s->buf_idx, good);
            me_of(p)->counters.slots_repaired++;
        } else {
            me_of(p)->counters.corrupt++;
        }
    }
    if (LOAD(s->len) > p->buf_size)
        STORE(s->len, 0);
}

/* netmap_ring_reinit: put head/cur/tail back where the kernel left them and repair the
 * slots in [from, from + count). */
static void reinit(struct anm_pipe *p, struct netmap_ring *ring, const uint32_t *shadow,
                   uint32_t hwcur, uint32_t rtail, uint32_t from, uint32_t count)
{
    for (uint32_t k = 0, i = from; k < count; k++, i = nxt(i, p->num_slots))
        fix_slot(p, &ring->slot[i], &shadow[i]);
    STORE(ring->head, hwcur);
    STORE(ring->cur, hwcur);
    STORE_REL(ring->tail, rtail);
    me_of(p)->counters.ring_resets++;
}

/* Our TX ring's slots and the limits they are checked against. */
static inline struct slot_ring tx_slots(const struct anm_pipe *p)
{
    return (struct slot_ring){p->tx->slot, p->num_slots, p->nbufs, p->buf_size};
}

static void tx_repair(struct anm_pipe *p, uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i != to; i = nxt(i, p->num_slots))
        fix_slot(p, &p->tx->slot[i], &p->tx_shadow[i]);
}

/* Move complete packets from [*hwcur, head) into the peer's RX ring by exchanging buffers.
 * Returns -1 if the shared indices are damaged. */
static int tx_move(struct anm_pipe *p, uint32_t *hwcur, uint32_t head, int peer_closed)
{
    struct end_state *me = me_of(p), *peer = peer_of(p);
    struct ring_state *prs = &peer->rx;
    uint32_t n = p->num_slots, i = *hwcur, moved = 0;
    uint32_t j = atomic_load_explicit(&prs->hwtail, RELAXED); /* we are its only writer */
    uint32_t pc = atomic_load_explicit(&prs->hwcur, ACQUIRE);
    if (j >= n || pc >= n)
        return -1;
    uint32_t room = anm_dist(j, prv(pc, n), n);
    int waiting = 0;
    struct slot_ring sr = tx_slots(p);
    struct chain t;
    if (LOAD(me->tx.skip_chain)) { /* still dropping the rest of a hopeless chain */
        int ended;
        i = chain_skip(&sr, i, head, &ended);
        if (ended)
            STORE(me->tx.skip_chain, 0);
    }
    while (i != head) {
        chain_scan(&sr, i, head, &t);
        if (!t.complete) { /* never publish half a chain; wait unless it can never fit */
            if (chain_hopeless(&t, n)) {
                me->counters.tx_dropped_too_many_frags++;
                STORE(me->tx.skip_chain, 1);
                i = t.end;
            }
            break;
        }
        if (t.bad != CH_OK) {
            me->counters.tx_dropped_bad_slot++;
            tx_repair(p, i, t.end);
            i = t.end;
            continue;
        }
        if (peer_closed) { /* drop instead of waiting forever for room */
            me->counters.tx_dropped_peer_closed++;
            i = t.end;
            continue;
        }
        if (t.nfrag > NETMAP_MAX_FRAGS || t.nfrag > n - 1) {
            me->counters.tx_dropped_too_many_frags++;
            i = t.end;
            continue;
        }
        if (t.nfrag > room) {
            if (!waiting) { /* Dekker with the peer's rxsync: flag, fence, look again */
                atomic_store_explicit(&me->tx_waiting, 1, SEQ_CST);
                atomic_thread_fence(SEQ_CST);
                waiting = 1;
            }
            pc = atomic_load_explicit(&prs->hwcur, ACQUIRE);
            if (pc >= n)
                return -1;
            room = anm_dist(j, prv(pc, n), n);
            if (t.nfrag > room) {
                me->counters.tx_waits++;
                break;
            }
        }
        for (uint32_t f = 0; f < t.nfrag; f++, i = nxt(i, n), j = nxt(j, n)) {
            uint32_t spare = LOAD(p->peer_rx_shadow[j]); /* the free RX slot's buffer */
            if (spare < 2 || spare >= p->nbufs)
                return -1;
            struct netmap_slot *rs = &p->peer_rx->slot[j], *ts = &p->tx->slot[i];
            uint16_t more = f + 1 < t.nfrag ? NS_MOREFRAG : 0;
            STORE(rs->buf_idx, t.frag[f].idx);
            STORE(rs->len, (uint16_t)t.frag[f].len);
            STORE(rs->flags, (uint16_t)(NS_BUF_CHANGED | more));
            STORE(rs->ptr, 0);
            STORE(p->peer_rx_shadow[j], t.frag[f].idx);
            STORE(ts->buf_idx, spare);
            STORE(ts->flags, (uint16_t)NS_BUF_CHANGED);
            STORE(p->tx_shadow[i], spare);
        }
        room -= t.nfrag;
        moved++;
    }
    if (moved) {
        atomic_store_explicit(&prs->hwtail, j, RELEASE);
        pipe_notify(p, peer, p->peer_fd);
    }
    if (i == head && atomic_load_explicit(&me->tx_waiting, RELAXED))
        atomic_store_explicit(&me->tx_waiting, 0, RELAXED); /* nothing left to wait for */
    *hwcur = i;
    return 0;
}

int anm_pipe_txsync(struct anm_pipe *p, struct anm_rings *r)
{
    struct end_state *me = me_of(p);
    struct ring_state *ks = &me->tx;
    uint32_t n = p->num_slots;
    uint32_t hwcur = atomic_load_explicit(&ks->hwcur, RELAXED), rtail = LOAD(ks->rtail);
    if (hwcur >= n || rtail >= n)
        return damaged(p);
    uint32_t head = LOAD(p->tx->head), cur = LOAD(p->tx->cur);
    int reset = 0;
    if (!in_order(hwcur, head, cur, rtail, n)) {
        reinit(p, p->tx, p->tx_shadow, hwcur, rtail, 0, n); /* the whole TX ring is ours */
        head = hwcur;
        reset = 1;
    }
    if (r != NULL && r->stats.tx_bad_buf != p->seen_tx_bad_buf) {
        /* a TX burst stopped at a damaged free slot: repair the free part of the ring */
        p->seen_tx_bad_buf = r->stats.tx_bad_buf;
        tx_repair(p, head, rtail);
    }
    int closed = atomic_load(&peer_of(p)->state) == ANM_END_CLOSED;
    if (tx_move(p, &hwcur, head, closed) < 0)
        return damaged(p);
    atomic_store_explicit(&ks->hwcur, hwcur, RELAXED);
    rtail = prv(hwcur, n); /* every slot handed over is free again at once */
    STORE(ks->rtail, rtail);
    STORE_REL(p->tx->tail, rtail); /* our copy: the peer may change ks->rtail at any time */
    return reset;
}

int anm_pipe_rxsync(struct anm_pipe *p)
{
    struct end_state *me = me_of(p), *peer = peer_of(p);
    struct ring_state *ks = &me->rx;
    uint32_t n = p->num_slots;
    uint32_t hwcur = atomic_load_explicit(&ks->hwcur, RELAXED), rtail = LOAD(ks->rtail);
    if (hwcur >= n || rtail >= n)
        return damaged(p);
    uint32_t head = LOAD(p->rx->head), cur = LOAD(p->rx->cur);
    int reset = 0;
    if (!in_order(hwcur, head, cur, rtail, n)) {
        /* only [hwcur, rtail) is ours: the peer may be filling the rest right now */
        reinit(p, p->rx, p->rx_shadow, hwcur, rtail, hwcur, anm_dist(hwcur, rtail, n));
        head = hwcur;
        reset = 1;
    }
    if (head != hwcur) {
        for (uint32_t i = hwcur; i != head; i = nxt(i, n)) {
            uint32_t idx = LOAD(p->rx->slot[i].buf_idx);
            if (idx >= 2 && idx < p->nbufs)
                STORE(p->rx_shadow[i], idx); /* the user may have swapped it (zero-copy) */
            else
                fix_slot(p, &p->rx->slot[i], &p->rx_shadow[i]);
        }
        atomic_store_explicit(&ks->hwcur, head, RELEASE);
        hwcur = head;
        /* Dekker with the peer's txsync: publish room, fence, then look at its flag */
        atomic_thread_fence(SEQ_CST);
        if (atomic_load_explicit(&peer->tx_waiting, RELAXED) &&
            atomic_exchange_explicit(&peer->tx_waiting, 0, SEQ_CST))
            pipe_notify(p, peer, p->peer_fd);
    }
    uint32_t hwtail = atomic_load_explicit(&ks->hwtail, ACQUIRE);
    if (hwtail >= n)
        return damaged(p);
    STORE(ks->rtail, hwtail);
    STORE_REL(p->rx->tail, hwtail);
    return reset;
}
