/*
 * The software pipe's user-space "kernel" (see pipe.h for the layout).
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
#include "pipe.h"
#include "anm_common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "cross-process flags need lock-free atomics");

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define STORE_REL(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define RELAXED memory_order_relaxed
#define ACQUIRE memory_order_acquire
#define RELEASE memory_order_release
#define SEQ_CST memory_order_seq_cst

#define ANM_PIPE_MAGIC 0x31455049504d4e41ULL /* "ANMPIPE1" */
#define ANM_PIPE_VERSION 1
#define NIFP_SIZE (sizeof(struct netmap_if) + 4 * sizeof(int64_t))

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

struct layout {
    size_t shadow, nifp[2], ring[4], pool, total;
};

static size_t up(size_t v, size_t a) { return (v + a - 1) / a * a; }
static inline uint32_t nxt(uint32_t i, uint32_t n) { return i + 1 == n ? 0 : i + 1; }
static inline uint32_t prv(uint32_t i, uint32_t n) { return i == 0 ? n - 1 : i - 1; }

static int layout(uint32_t slots, uint32_t buf_size, struct layout *L)
{
    if (slots < ANM_PIPE_MIN_SLOTS || slots > ANM_PIPE_MAX_SLOTS || buf_size < ANM_PIPE_MIN_BUF ||
        buf_size > ANM_PIPE_MAX_BUF || buf_size % 64 != 0)
        return -1;
    size_t o = up(sizeof(struct anm_pipe_ctrl), NM_CACHE_ALIGN);
    L->shadow = o;
    o += up(4 * (size_t)slots * sizeof(uint32_t), NM_CACHE_ALIGN);
    for (int e = 0; e < 2; e++) {
        L->nifp[e] = o;
        o += up(NIFP_SIZE, NM_CACHE_ALIGN);
    }
    size_t ring_bytes = up(sizeof(struct netmap_ring) + (size_t)slots * sizeof(struct netmap_slot),
                           NM_CACHE_ALIGN);
    for (int k = 0; k < 4; k++) {
        L->ring[k] = o;
        o += ring_bytes;
    }
    L->pool = up(o, 4096);
    L->total = up(L->pool + (4 * (size_t)slots + 2) * buf_size, 4096);
    return 0;
}

size_t anm_pipe_region_size(uint32_t slots, uint32_t buf_size)
{
    struct layout L;
    return layout(slots, buf_size, &L) < 0 ? 0 : L.total;
}

int anm_pipe_format(uint8_t *base, size_t size, uint32_t slots, uint32_t buf_size, char *err,
                    size_t errlen)
{
    struct layout L;
    if (layout(slots, buf_size, &L) < 0)
        return anm_fail(err, errlen, EINVAL, "slots=%u buf_size=%u out of range (slots %d..%d, "
                    "buf_size a multiple of 64 in %d..%d)", slots, buf_size, ANM_PIPE_MIN_SLOTS,
                    ANM_PIPE_MAX_SLOTS, ANM_PIPE_MIN_BUF, ANM_PIPE_MAX_BUF);
    if (base == NULL || size < L.total)
        return anm_fail(err, errlen, EINVAL, "region of %zu bytes is smaller than the %zu needed",
                    size, L.total);
    if ((uintptr_t)base % NM_CACHE_ALIGN != 0)
        return anm_fail(err, errlen, EINVAL, "region is not %d-byte aligned", NM_CACHE_ALIGN);
    struct anm_pipe_ctrl *c = (struct anm_pipe_ctrl *)base;
    uint32_t *shadow = (uint32_t *)(base + L.shadow);
    for (int k = 0; k < 4; k++) {
        struct netmap_ring *ring = (struct netmap_ring *)(base + L.ring[k]);
        int is_rx = k & 1;
        ring->buf_ofs = (int64_t)L.pool - (int64_t)L.ring[k];
        ring->num_slots = slots;
        ring->nr_buf_size = buf_size;
        ring->dir = (uint16_t)is_rx;
        ring->head = ring->cur = 0;
        ring->tail = is_rx ? 0 : slots - 1;
        for (uint32_t s = 0; s < slots; s++) {
            uint32_t idx = 2 + (uint32_t)k * slots + s;
            ring->slot[s] = (struct netmap_slot){.buf_idx = idx};
            shadow[(size_t)k * slots + s] = idx;
        }
    }
    for (int e = 0; e < 2; e++) {
        struct netmap_if *nifp = (struct netmap_if *)(base + L.nifp[e]);
        snprintf(nifp->ni_name, sizeof nifp->ni_name, "anm-pipe%c", e ? '}' : '{');
        nifp->ni_version = NETMAP_API;
        nifp->ni_flags = NI_PRIV_MEM;
        nifp->ni_tx_rings = nifp->ni_rx_rings = 1;
        nifp->ni_host_tx_rings = nifp->ni_host_rx_rings = 1; /* counted, never bound */
        nifp->ring_ofs[0] = (int64_t)L.ring[2 * e] - (int64_t)L.nifp[e];
        nifp->ring_ofs[1] = 0;
        nifp->ring_ofs[2] = (int64_t)L.ring[2 * e + 1] - (int64_t)L.nifp[e];
        nifp->ring_ofs[3] = 0;
        struct end_state *st = &c->end[e];
        st->nifp_off = L.nifp[e];
        atomic_store(&st->tx.hwcur, 0);
        st->tx.rtail = slots - 1;
        atomic_store(&st->rx.hwcur, 0);
        atomic_store(&st->rx.hwtail, 0);
        st->rx.rtail = 0;
        atomic_store(&st->state, ANM_END_FREE);
    }
    c->version = ANM_PIPE_VERSION;
    c->slots = slots;
    c->buf_size = buf_size;
    c->size = L.total;
    /* last: a region without the magic is never attached to */
    __atomic_store_n(&c->magic, ANM_PIPE_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

int anm_pipe_attach(struct anm_pipe *p, uint8_t *base, size_t size, unsigned end, int own_fd,
                    int peer_fd, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    struct layout L;
    if (end > 1)
        return anm_fail(err, errlen, EINVAL, "end must be 0 (a) or 1 (b)");
    if (base == NULL || size < sizeof(struct anm_pipe_ctrl))
        return anm_fail(err, errlen, EINVAL, "region of %zu bytes is too small for a pipe", size);
    if ((uintptr_t)base % NM_CACHE_ALIGN != 0)
        return anm_fail(err, errlen, EINVAL, "region is not %d-byte aligned", NM_CACHE_ALIGN);
    struct anm_pipe_ctrl *c = (struct anm_pipe_ctrl *)base;
    if (__atomic_load_n(&c->magic, __ATOMIC_ACQUIRE) != ANM_PIPE_MAGIC ||
        c->version != ANM_PIPE_VERSION)
        return anm_fail(err, errlen, EINVAL, "region is not a version-%d aionetmap pipe",
                    ANM_PIPE_VERSION);
    uint32_t slots = c->slots, buf_size = c->buf_size; /* read once, then only our copies */
    if (layout(slots, buf_size, &L) < 0 || size < L.total)
        return anm_fail(err, errlen, EINVAL, "pipe header (slots=%u, buf_size=%u) does not match "
                    "the %zu-byte region", slots, buf_size, size);
    unsigned peer = 1 - end;
    p->base = base;
    p->size = size;
    p->ctrl = c;
    p->end = end;
    p->num_slots = slots;
    p->buf_size = buf_size;
    p->nbufs = 4 * slots + 2;
    p->nifp_off = L.nifp[end];
    p->tx = (struct netmap_ring *)(base + L.ring[2 * end]);
    p->rx = (struct netmap_ring *)(base + L.ring[2 * end + 1]);
    p->peer_rx = (struct netmap_ring *)(base + L.ring[2 * peer + 1]);
    uint32_t *shadow = (uint32_t *)(base + L.shadow);
    p->tx_shadow = shadow + (size_t)(2 * end) * slots;
    p->rx_shadow = shadow + (size_t)(2 * end + 1) * slots;
    p->peer_rx_shadow = shadow + (size_t)(2 * peer + 1) * slots;
    p->own_fd = own_fd;
    p->peer_fd = peer_fd;
    p->seen_peer_state = atomic_load(&c->end[peer].state);
    return 0;
}

static struct end_state *me_of(const struct anm_pipe *p)
{
    return &((struct anm_pipe_ctrl *)p->ctrl)->end[p->end];
}

static struct end_state *peer_of(const struct anm_pipe *p)
{
    return &((struct anm_pipe_ctrl *)p->ctrl)->end[1 - p->end];
}

uint32_t anm_pipe_state(const struct anm_pipe *p, unsigned end)
{
    return atomic_load(&((struct anm_pipe_ctrl *)p->ctrl)->end[end & 1].state);
}

int32_t anm_pipe_owner(const struct anm_pipe *p, unsigned end)
{
    return atomic_load(&((struct anm_pipe_ctrl *)p->ctrl)->end[end & 1].owner);
}

const struct anm_pipe_counters *anm_pipe_counters(const struct anm_pipe *p, unsigned end)
{
    return &((struct anm_pipe_ctrl *)p->ctrl)->end[end & 1].counters;
}

/* ---- readiness ------------------------------------------------------------------------- */

/* Signal the fd of end st unless it is already signalled. The caller has just published
 * something st will look at; the fence orders that before our look at st->armed. */
static void notify(struct anm_pipe *p, struct end_state *st, int fd)
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
         * the armed flag keeps that to a few notifications. A short read means empty. */
        char buf[64];
        while (read(p->own_fd, buf, sizeof buf) == (ssize_t)sizeof buf)
            ;
    }
    atomic_store_explicit(&me_of(p)->armed, 0, SEQ_CST);
    atomic_thread_fence(SEQ_CST);
}

/* Level-triggered: signal ourselves again if something is still waiting. */
static void rearm(struct anm_pipe *p)
{
    if (anm_pipe_ready(p))
        notify(p, me_of(p), p->own_fd);
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
        notify(p, peer_of(p), p->peer_fd);
}

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
    uint32_t dh = anm_dist(hwcur, head, n), dc = anm_dist(hwcur, cur, n), dt = anm_dist(hwcur, tail, n);
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

/* A packet in our TX ring, with the slot values copied out once. */
struct txpkt {
    uint32_t end, nfrag;
    int complete, bad;
    uint32_t idx[NETMAP_MAX_FRAGS];
    uint16_t len[NETMAP_MAX_FRAGS];
};

static void tx_scan(struct anm_pipe *p, uint32_t i, uint32_t head, struct txpkt *t)
{
    t->nfrag = 0;
    t->complete = 0;
    t->bad = 0;
    do {
        const struct netmap_slot *s = &p->tx->slot[i];
        uint32_t idx = LOAD(s->buf_idx);
        uint16_t len = LOAD(s->len), fl = LOAD(s->flags);
        if (idx < 2 || idx >= p->nbufs || len > p->buf_size)
            t->bad = 1;
        if (t->nfrag < NETMAP_MAX_FRAGS) {
            t->idx[t->nfrag] = idx;
            t->len[t->nfrag] = len;
        }
        t->nfrag++;
        i = nxt(i, p->num_slots);
        if (!(fl & NS_MOREFRAG)) {
            t->complete = 1;
            break;
        }
    } while (i != head);
    t->end = i;
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
    struct txpkt t;
    if (me->tx.skip_chain) {
        while (i != head && me->tx.skip_chain) {
            if (!(LOAD(p->tx->slot[i].flags) & NS_MOREFRAG))
                me->tx.skip_chain = 0;
            i = nxt(i, n);
        }
    }
    while (i != head) {
        tx_scan(p, i, head, &t);
        if (!t.complete) { /* never publish half a chain; wait unless it can never fit */
            if (t.nfrag > NETMAP_MAX_FRAGS || t.nfrag >= n - 1) {
                me->counters.tx_dropped_too_many_frags++;
                me->tx.skip_chain = 1;
                i = t.end;
            }
            break;
        }
        if (t.bad) {
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
            STORE(rs->buf_idx, t.idx[f]);
            STORE(rs->len, t.len[f]);
            STORE(rs->flags, (uint16_t)(NS_BUF_CHANGED | more));
            STORE(rs->ptr, 0);
            STORE(p->peer_rx_shadow[j], t.idx[f]);
            STORE(ts->buf_idx, spare);
            STORE(ts->flags, (uint16_t)NS_BUF_CHANGED);
            STORE(p->tx_shadow[i], spare);
        }
        room -= t.nfrag;
        moved++;
    }
    if (moved) {
        atomic_store_explicit(&prs->hwtail, j, RELEASE);
        notify(p, peer, p->peer_fd);
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
    uint32_t hwcur = atomic_load_explicit(&ks->hwcur, RELAXED), rtail = ks->rtail;
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
    ks->rtail = prv(hwcur, n); /* every slot handed over is free again at once */
    STORE_REL(p->tx->tail, ks->rtail);
    return reset;
}

int anm_pipe_rxsync(struct anm_pipe *p)
{
    struct end_state *me = me_of(p), *peer = peer_of(p);
    struct ring_state *ks = &me->rx;
    uint32_t n = p->num_slots;
    uint32_t hwcur = atomic_load_explicit(&ks->hwcur, RELAXED), rtail = ks->rtail;
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
            notify(p, peer, p->peer_fd);
    }
    uint32_t hwtail = atomic_load_explicit(&ks->hwtail, ACQUIRE);
    if (hwtail >= n)
        return damaged(p);
    ks->rtail = hwtail;
    STORE_REL(p->rx->tail, hwtail);
    return reset;
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
