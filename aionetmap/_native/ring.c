/*
 * Ring walking for one netmap_if: RX burst into an arena, TX burst from an arena, buffer-swap
 * forwarding. See ring.h for the trust model: every value read from the shared region is
 * read once and range-checked before it becomes an address.
 */
#include "ring.h"
#include "anm_common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* head/cur/tail and slot fields live in memory someone else writes. Reading each exactly
 * once (never letting the compiler re-load it after the check) is what makes the checks
 * hold; acquire/release orders slot contents against the index that publishes them. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define LOAD_ACQ(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define STORE_REL(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

enum { CH_OK = 0, CH_BAD_BUF, CH_BAD_LEN };
enum { TAKE_OK, TAKE_DROP, TAKE_STOP };

struct frag {
    uint32_t idx;
    uint32_t len;
};

/* One NS_MOREFRAG chain as scanned from an RX ring (values copied out once). */
struct chain {
    uint32_t end;   /* slot after the last one scanned */
    uint32_t nfrag; /* slots scanned (may exceed NETMAP_MAX_FRAGS; only that many are kept) */
    uint64_t total;
    int complete; /* the last slot scanned has no NS_MOREFRAG */
    int bad;      /* CH_* of the first bad slot */
    struct frag frag[NETMAP_MAX_FRAGS];
};

struct iov {
    const uint8_t *p;
    size_t len;
};

static inline uint32_t nxt(uint32_t i, uint32_t n) { return i + 1 == n ? 0 : i + 1; }

static inline uint32_t adv(uint32_t i, uint32_t k, uint32_t n)
{
    uint64_t j = (uint64_t)i + k;
    return (uint32_t)(j >= n ? j - n : j);
}


/* ---- init ------------------------------------------------------------------------------ */

/* base_off + delta as an offset inside [0, size], or -1 if it falls outside. */
static int64_t offset_in(size_t size, uint64_t base_off, int64_t delta)
{
    if (delta < 0 && (uint64_t)(-(delta + 1)) + 1 > base_off)
        return -1;
    if (delta > 0 && (uint64_t)delta > size - base_off)
        return -1;
    return (int64_t)(base_off + (uint64_t)delta);
}

static int ring_init(struct anm_ring *kr, uint8_t *base, size_t size, uint64_t nifp_off,
                     int64_t ofs, unsigned entry, char *err, size_t errlen)
{
    int64_t off = offset_in(size, nifp_off, ofs);
    if (off < 0 || (size_t)off > size || size - (size_t)off < sizeof(struct netmap_ring))
        return anm_fail(err, errlen, EINVAL, "ring_ofs[%u] = %lld puts the ring header outside the "
                    "%zu-byte region", entry, (long long)ofs, size);
    if ((uintptr_t)(base + off) % NM_CACHE_ALIGN != 0) /* the type promises it to the compiler */
        return anm_fail(err, errlen, EINVAL, "ring_ofs[%u]: ring at offset %lld is misaligned "
                    "(netmap rings are %d-byte aligned)", entry, (long long)off, NM_CACHE_ALIGN);
    struct netmap_ring *ring = (struct netmap_ring *)(base + off);
    uint32_t num_slots = LOAD(ring->num_slots);
    uint32_t buf_size = LOAD(ring->nr_buf_size);
    int64_t buf_ofs = LOAD(ring->buf_ofs);
    size_t room = (size - (size_t)off - sizeof(struct netmap_ring)) / sizeof(struct netmap_slot);
    if (num_slots < 2 || num_slots > room)
        return anm_fail(err, errlen, EINVAL, "ring_ofs[%u]: %u slots at offset %lld do not fit in "
                    "the %zu-byte region", entry, num_slots, (long long)off, size);
    if (buf_size == 0 || buf_size > 65536)
        return anm_fail(err, errlen, EINVAL, "ring_ofs[%u]: buffer size %u out of range", entry,
                    buf_size);
    int64_t pool = offset_in(size, (uint64_t)off, buf_ofs);
    if (pool < 0 || (size_t)pool >= size)
        return anm_fail(err, errlen, EINVAL, "ring_ofs[%u]: buf_ofs %lld puts the buffer pool "
                    "outside the region", entry, (long long)buf_ofs);
    uint64_t nbufs = (size - (size_t)pool) / buf_size;
    if (nbufs <= 2)
        return anm_fail(err, errlen, EINVAL, "ring_ofs[%u]: the buffer pool at offset %lld holds "
                    "no usable buffer", entry, (long long)pool);
    kr->ring = ring;
    kr->bufs = base + pool;
    kr->num_slots = num_slots;
    kr->buf_size = buf_size;
    kr->frag_cap = buf_size < 65535 ? buf_size : 65535;
    kr->nbufs = nbufs > UINT32_MAX ? UINT32_MAX : (uint32_t)nbufs;
    kr->skip_chain = 0;
    return 0;
}

static uint32_t compute_max_frame(const struct anm_rings *r)
{
    uint64_t best = 0;
    for (unsigned t = 0; t < r->n_tx; t++) {
        const struct anm_ring *kr = &r->tx[t];
        uint64_t frags = 1;
        if (r->flags & ANM_RINGS_FRAGMENTS) {
            frags = kr->num_slots - 1;
            if (frags > NETMAP_MAX_FRAGS)
                frags = NETMAP_MAX_FRAGS;
        }
        uint64_t m = frags * kr->frag_cap;
        if (t == 0 || m < best)
            best = m; /* the smallest ring decides: a frame must fit whichever ring it gets */
    }
    return (uint32_t)best;
}

int anm_rings_init(struct anm_rings *r, uint8_t *base, size_t size, uint64_t nifp_off,
                   int flags, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (base == NULL || size < sizeof(struct netmap_if) ||
        nifp_off > size - sizeof(struct netmap_if))
        return anm_fail(err, errlen, EINVAL, "netmap_if at offset %llu does not fit in the "
                    "%zu-byte region", (unsigned long long)nifp_off, size);
    if ((uintptr_t)(base + nifp_off) % _Alignof(struct netmap_if) != 0)
        return anm_fail(err, errlen, EINVAL, "netmap_if at offset %llu is misaligned",
                    (unsigned long long)nifp_off);
    const struct netmap_if *nifp = (const struct netmap_if *)(base + nifp_off);
    uint64_t ntx = (uint64_t)LOAD(nifp->ni_tx_rings) + LOAD(nifp->ni_host_tx_rings);
    uint64_t nrx = (uint64_t)LOAD(nifp->ni_rx_rings) + LOAD(nifp->ni_host_rx_rings);
    uint64_t room = (size - nifp_off - sizeof(struct netmap_if)) / sizeof(int64_t);
    if (ntx + nrx > room)
        return anm_fail(err, errlen, EINVAL, "netmap_if lists %llu rings; its ring_ofs table "
                    "does not fit in the region", (unsigned long long)(ntx + nrx));
    for (uint64_t i = 0; i < ntx + nrx; i++) {
        int64_t ofs = LOAD(nifp->ring_ofs[i]);
        if (ofs == 0)
            continue; /* not bound to this netmap_if */
        int is_tx = i < ntx;
        unsigned *count = is_tx ? &r->n_tx : &r->n_rx;
        if (*count == ANM_MAX_RINGS)
            return anm_fail(err, errlen, E2BIG, "more than %d bound %s rings", ANM_MAX_RINGS,
                        is_tx ? "TX" : "RX");
        struct anm_ring *kr = is_tx ? &r->tx[*count] : &r->rx[*count];
        int rc = ring_init(kr, base, size, nifp_off, ofs, (unsigned)i, err, errlen);
        if (rc < 0)
            return rc;
        (*count)++;
    }
    if (r->n_tx == 0 && r->n_rx == 0)
        return anm_fail(err, errlen, EINVAL, "no ring is bound to the netmap_if at offset %llu",
                    (unsigned long long)nifp_off);
    r->base = base;
    r->size = size;
    r->flags = flags;
    r->tx_slots = r->n_tx ? r->tx[0].num_slots : 0;
    r->rx_slots = r->n_rx ? r->rx[0].num_slots : 0;
    r->buf_size = r->n_tx ? r->tx[0].buf_size : r->rx[0].buf_size;
    r->max_frame = compute_max_frame(r);
    return 0;
}

/* ---- RX -------------------------------------------------------------------------------- */

/* Scan the chain starting at slot i (i != tail), stopping at its last slot or at tail. */
static void scan_chain(const struct anm_ring *kr, uint32_t i, uint32_t tail, struct chain *c)
{
    c->nfrag = 0;
    c->total = 0;
    c->complete = 0;
    c->bad = CH_OK;
    do {
        const struct netmap_slot *s = &kr->ring->slot[i];
        uint32_t idx = LOAD(s->buf_idx);
        uint32_t len = LOAD(s->len);
        uint16_t fl = LOAD(s->flags);
        if (c->bad == CH_OK) {
            if (idx < 2 || idx >= kr->nbufs)
                c->bad = CH_BAD_BUF;
            else if (len > kr->buf_size)
                c->bad = CH_BAD_LEN;
        }
        if (c->nfrag < NETMAP_MAX_FRAGS)
            c->frag[c->nfrag] = (struct frag){idx, len};
        c->nfrag++;
        c->total += len;
        i = nxt(i, kr->num_slots);
        if (!(fl & NS_MOREFRAG)) {
            c->complete = 1;
            break;
        }
    } while (i != tail);
    c->end = i;
}

/* Drop the rest of a chain whose beginning was already dropped as over-long. */
static uint32_t skip_rest(struct anm_ring *kr, uint32_t i, uint32_t tail)
{
    while (i != tail) {
        uint16_t fl = LOAD(kr->ring->slot[i].flags);
        i = nxt(i, kr->num_slots);
        if (!(fl & NS_MOREFRAG)) {
            kr->skip_chain = 0;
            break;
        }
    }
    return i;
}

typedef int (*take_fn)(void *ctx, struct anm_rings *r, struct anm_ring *kr, uint32_t i,
                       const struct chain *c);

/* Hand every complete, valid frame of one RX ring to take() (at most *budget of them), then
 * release the consumed slots. Returns 1 if take() asked to stop. */
static int rx_walk(struct anm_rings *r, struct anm_ring *kr, unsigned *budget, take_fn take,
                   void *ctx)
{
    struct netmap_ring *ring = kr->ring;
    uint32_t n = kr->num_slots;
    uint32_t head = LOAD(ring->head);
    uint32_t tail = LOAD_ACQ(ring->tail);
    if (head >= n || tail >= n) {
        r->stats.rx_bad_ring++;
        return 0;
    }
    uint32_t i = kr->skip_chain ? skip_rest(kr, head, tail) : head;
    int stop = 0;
    struct chain c;
    while (i != tail && *budget > 0) {
        scan_chain(kr, i, tail, &c);
        if (!c.complete) {
            /* Wait for the rest, unless it can never fit: then drop what is here and the
             * rest of the chain as it arrives, so the ring cannot jam. */
            if (c.nfrag > NETMAP_MAX_FRAGS || c.nfrag >= n - 1) {
                r->stats.rx_dropped_too_many_frags++;
                kr->skip_chain = 1;
                i = c.end;
            }
            break;
        }
        if (c.bad == CH_BAD_BUF)
            r->stats.rx_dropped_bad_buf++;
        else if (c.bad == CH_BAD_LEN)
            r->stats.rx_dropped_bad_len++;
        else if (c.nfrag > NETMAP_MAX_FRAGS)
            r->stats.rx_dropped_too_many_frags++;
        else {
            int rc = take(ctx, r, kr, i, &c);
            if (rc == TAKE_STOP) {
                stop = 1;
                break;
            }
            if (rc == TAKE_OK)
                (*budget)--;
        }
        i = c.end;
    }
    if (i != head) {
        STORE_REL(ring->head, i);
        STORE_REL(ring->cur, i);
    }
    return stop;
}

/* Walk the RX rings round-robin, starting one ring later than the previous call. */
static unsigned rx_rounds(struct anm_rings *r, unsigned max, take_fn take, void *ctx)
{
    if (r->n_rx == 0 || max == 0)
        return 0;
    unsigned budget = max;
    unsigned start = r->rx_next;
    r->rx_next = (start + 1) % r->n_rx;
    for (unsigned k = 0; k < r->n_rx && budget > 0; k++) {
        if (rx_walk(r, &r->rx[(start + k) % r->n_rx], &budget, take, ctx))
            break;
    }
    return max - budget;
}

struct sink {
    uint8_t *arena;
    size_t len;
    size_t pos;
    uint32_t *offs;
    uint32_t *lens;
    unsigned n;
};

static int take_copy(void *ctx, struct anm_rings *r, struct anm_ring *kr, uint32_t i,
                     const struct chain *c)
{
    struct sink *sk = ctx;
    if (c->total > sk->len) {
        r->stats.rx_dropped_too_big++;
        return TAKE_DROP;
    }
    if (c->total > sk->len - sk->pos)
        return TAKE_STOP; /* fits an empty arena: leave it for the next call */
    uint8_t *dst = sk->arena + sk->pos;
    for (uint32_t f = 0; f < c->nfrag; f++) {
        memcpy(dst, kr->bufs + (size_t)c->frag[f].idx * kr->buf_size, c->frag[f].len);
        dst += c->frag[f].len;
    }
    sk->offs[sk->n] = (uint32_t)sk->pos;
    sk->lens[sk->n] = (uint32_t)c->total;
    sk->n++;
    sk->pos += c->total;
    r->stats.rx_frames++;
    r->stats.rx_bytes += c->total;
    (void)i;
    return TAKE_OK;
}

unsigned anm_rx_burst(struct anm_rings *r, uint8_t *arena, size_t arena_len, uint32_t *offs,
                      uint32_t *lens, unsigned max)
{
    /* offsets are 32-bit: never place a frame beyond what they can address */
    struct sink sk = {arena, arena_len > UINT32_MAX ? UINT32_MAX : arena_len, 0, offs, lens, 0};
    if (arena == NULL || offs == NULL || lens == NULL)
        return 0;
    rx_rounds(r, max, take_copy, &sk);
    return sk.n;
}

/* ---- TX -------------------------------------------------------------------------------- */

/* A cursor over the TX rings: fills the current ring, publishes it and moves on when full. */
struct txc {
    struct anm_rings *r;
    struct anm_ring *kr; /* NULL once every ring was tried */
    unsigned tried;
    uint32_t head0;
    uint32_t h;
    uint32_t space;
};

static void txc_publish(struct txc *c)
{
    if (c->kr != NULL && c->h != c->head0) {
        STORE_REL(c->kr->ring->head, c->h);
        STORE_REL(c->kr->ring->cur, c->h);
        c->head0 = c->h;
    }
}

/* Load ring r->tx_next (or the next sane one) as the current ring. */
static void txc_load(struct txc *c)
{
    struct anm_rings *r = c->r;
    c->kr = NULL;
    while (c->tried < r->n_tx) {
        struct anm_ring *kr = &r->tx[r->tx_next];
        uint32_t n = kr->num_slots;
        uint32_t head = LOAD(kr->ring->head);
        uint32_t tail = LOAD_ACQ(kr->ring->tail);
        c->tried++;
        if (head < n && tail < n) {
            c->kr = kr;
            c->head0 = c->h = head;
            c->space = anm_dist(head, tail, n);
            return;
        }
        r->stats.tx_bad_ring++;
        r->tx_next = (r->tx_next + 1) % r->n_tx;
    }
}

static void txc_open(struct txc *c, struct anm_rings *r)
{
    c->r = r;
    c->tried = 0;
    txc_load(c);
}

/* Make sure the current ring has need free slots, moving to later rings if not.
 * Returns 0 when no ring has room. */
static int txc_room(struct txc *c, uint32_t need)
{
    while (c->kr != NULL && c->space < need) {
        txc_publish(c);
        c->r->tx_next = (c->r->tx_next + 1) % c->r->n_tx;
        txc_load(c);
    }
    return c->kr != NULL;
}

/* Slots a frame of total bytes needs on kr, or 0 if kr cannot carry it at all. */
static uint32_t tx_need(const struct anm_rings *r, const struct anm_ring *kr, uint64_t total)
{
    uint64_t need = total == 0 ? 1 : (total + kr->frag_cap - 1) / kr->frag_cap;
    if (need > 1 && !(r->flags & ANM_RINGS_FRAGMENTS))
        return 0;
    if (need > NETMAP_MAX_FRAGS || need > kr->num_slots - 1)
        return 0;
    return (uint32_t)need;
}

/* Write one frame, gathered from v[0..nv), into need slots from c->h (not yet published).
 * Returns -1, writing nothing, if one of those slots holds a bad buffer index. */
static int tx_write(struct txc *c, uint32_t need, const struct iov *v, unsigned nv,
                    uint64_t total)
{
    struct anm_ring *kr = c->kr;
    struct netmap_slot *slot = kr->ring->slot;
    uint32_t idx[NETMAP_MAX_FRAGS];
    uint32_t k = c->h;
    for (uint32_t j = 0; j < need; j++, k = nxt(k, kr->num_slots)) {
        idx[j] = LOAD(slot[k].buf_idx);
        if (idx[j] < 2 || idx[j] >= kr->nbufs)
            return -1;
    }
    unsigned vi = 0;
    size_t voff = 0;
    uint64_t left = total;
    k = c->h;
    for (uint32_t j = 0; j < need; j++, k = nxt(k, kr->num_slots)) {
        uint32_t flen = left < kr->frag_cap ? (uint32_t)left : kr->frag_cap;
        uint8_t *dst = kr->bufs + (size_t)idx[j] * kr->buf_size;
        uint32_t done = 0;
        while (done < flen && vi < nv) {
            size_t take = v[vi].len - voff;
            if (take > flen - done)
                take = flen - done;
            memcpy(dst + done, v[vi].p + voff, take);
            done += (uint32_t)take;
            voff += take;
            if (voff == v[vi].len) {
                vi++;
                voff = 0;
            }
        }
        STORE(slot[k].len, (uint16_t)flen);
        STORE(slot[k].flags, (uint16_t)(j + 1 < need ? NS_MOREFRAG : 0));
        left -= flen;
    }
    c->h = k;
    c->space -= need;
    c->r->stats.tx_frames++;
    c->r->stats.tx_bytes += total;
    return 0;
}

unsigned anm_tx_burst(struct anm_rings *r, const char *data, size_t data_len,
                      const uint32_t *offs, const uint32_t *lens, unsigned n)
{
    if (r->n_tx == 0 || n == 0 || lens == NULL || (data == NULL && data_len != 0))
        return 0;
    struct txc c;
    txc_open(&c, r);
    unsigned done = 0;
    size_t packed = 0;
    while (done < n && c.kr != NULL) {
        size_t off = offs != NULL ? offs[done] : packed;
        uint32_t len = lens[done];
        uint32_t need = tx_need(r, c.kr, len);
        if (off > data_len || len > data_len - off || need == 0) {
            r->stats.tx_refused++;
            break;
        }
        if (!txc_room(&c, need))
            break;
        struct iov v = {(const uint8_t *)data + off, len};
        if (tx_write(&c, need, &v, 1, len) < 0) {
            r->stats.tx_bad_buf++;
            break;
        }
        packed = off + len;
        done++;
    }
    txc_publish(&c);
    return done;
}

int anm_tx_packed(struct anm_rings *r, const char *data, size_t data_len, const uint32_t *lens,
                  unsigned n)
{
    uint64_t total = 0;
    uint32_t longest = 0;
    for (unsigned i = 0; i < n; i++) {
        total += lens[i];
        if (lens[i] > longest)
            longest = lens[i];
    }
    if (total != data_len)
        return ANM_TX_MISMATCH;
    if (longest > r->max_frame)
        return ANM_TX_OVERSIZE;
    return (int)anm_tx_burst(r, data, data_len, NULL, lens, n);
}

/* ---- queries --------------------------------------------------------------------------- */

unsigned anm_tx_space(const struct anm_rings *r)
{
    uint64_t space = 0;
    for (unsigned t = 0; t < r->n_tx; t++) {
        const struct anm_ring *kr = &r->tx[t];
        uint32_t head = LOAD(kr->ring->head), tail = LOAD(kr->ring->tail);
        if (head < kr->num_slots && tail < kr->num_slots)
            space += anm_dist(head, tail, kr->num_slots);
    }
    return space > UINT32_MAX ? UINT32_MAX : (unsigned)space;
}

unsigned anm_rx_pending(const struct anm_rings *r)
{
    unsigned frames = 0;
    for (unsigned t = 0; t < r->n_rx; t++) {
        const struct anm_ring *kr = &r->rx[t];
        uint32_t head = LOAD(kr->ring->head), tail = LOAD_ACQ(kr->ring->tail);
        if (head >= kr->num_slots || tail >= kr->num_slots)
            continue;
        for (uint32_t i = head; i != tail; i = nxt(i, kr->num_slots))
            frames += !(LOAD(kr->ring->slot[i].flags) & NS_MOREFRAG);
    }
    return frames;
}

int anm_tx_pending(const struct anm_rings *r)
{
    for (unsigned t = 0; t < r->n_tx; t++) {
        const struct anm_ring *kr = &r->tx[t];
        uint32_t head = LOAD(kr->ring->head), tail = LOAD(kr->ring->tail);
        if (head < kr->num_slots && tail < kr->num_slots && head != nxt(tail, kr->num_slots))
            return 1;
    }
    return 0;
}

/* ---- forwarding ------------------------------------------------------------------------ */

static int same_pool(const struct anm_ring *a, const struct anm_ring *b)
{
    return a->bufs == b->bufs && a->buf_size == b->buf_size && a->nbufs == b->nbufs;
}

int anm_rings_same_pool(const struct anm_rings *src, const struct anm_rings *dst)
{
    if (src->n_rx == 0 || dst->n_tx == 0)
        return 0;
    for (unsigned i = 0; i < src->n_rx; i++)
        for (unsigned t = 0; t < dst->n_tx; t++)
            if (!same_pool(&src->rx[i], &dst->tx[t]))
                return 0;
    return 1;
}

struct fwd {
    struct txc tx;
    int zero_copy;
};

/* Exchange the buffers of the chain at RX slot i with need free TX slots (need == nfrag). */
static int fwd_swap(struct txc *c, struct anm_ring *rk, uint32_t i, const struct chain *ch)
{
    struct anm_ring *tk = c->kr;
    uint32_t tidx[NETMAP_MAX_FRAGS];
    uint32_t k = c->h;
    for (uint32_t j = 0; j < ch->nfrag; j++, k = nxt(k, tk->num_slots)) {
        tidx[j] = LOAD(tk->ring->slot[k].buf_idx);
        if (tidx[j] < 2 || tidx[j] >= tk->nbufs)
            return -1;
    }
    k = c->h;
    for (uint32_t j = 0; j < ch->nfrag; j++) {
        struct netmap_slot *ts = &tk->ring->slot[k], *rs = &rk->ring->slot[i];
        uint16_t more = j + 1 < ch->nfrag ? NS_MOREFRAG : 0;
        STORE(ts->buf_idx, ch->frag[j].idx);
        STORE(ts->len, (uint16_t)ch->frag[j].len);
        STORE(ts->flags, (uint16_t)(NS_BUF_CHANGED | more));
        STORE(rs->buf_idx, tidx[j]);
        STORE(rs->flags, (uint16_t)(LOAD(rs->flags) | NS_BUF_CHANGED));
        k = nxt(k, tk->num_slots);
        i = nxt(i, rk->num_slots);
    }
    c->h = k;
    c->space -= ch->nfrag;
    c->r->stats.tx_frames++;
    c->r->stats.tx_bytes += ch->total;
    return 0;
}

static int take_forward(void *ctx, struct anm_rings *r, struct anm_ring *kr, uint32_t i,
                        const struct chain *ch)
{
    struct fwd *f = ctx;
    struct txc *c = &f->tx;
    if (c->kr == NULL)
        return TAKE_STOP;
    int swap = f->zero_copy && (ch->nfrag == 1 || (c->r->flags & ANM_RINGS_FRAGMENTS)) &&
               ch->nfrag <= c->kr->num_slots - 1;
    uint32_t need = swap ? ch->nfrag : tx_need(c->r, c->kr, ch->total);
    if (need == 0) {
        r->stats.fwd_dropped++;
        return TAKE_DROP;
    }
    if (!txc_room(c, need))
        return TAKE_STOP;
    int rc;
    if (swap) {
        rc = fwd_swap(c, kr, i, ch);
    } else {
        struct iov v[NETMAP_MAX_FRAGS];
        for (uint32_t j = 0; j < ch->nfrag; j++)
            v[j] = (struct iov){kr->bufs + (size_t)ch->frag[j].idx * kr->buf_size,
                                ch->frag[j].len};
        rc = tx_write(c, need, v, ch->nfrag, ch->total);
    }
    if (rc < 0) {
        c->r->stats.tx_bad_buf++;
        return TAKE_STOP;
    }
    if (swap)
        r->stats.fwd_swapped++;
    else
        r->stats.fwd_copied++;
    r->stats.rx_frames++;
    r->stats.rx_bytes += ch->total;
    return TAKE_OK;
}

unsigned anm_forward(struct anm_rings *src, struct anm_rings *dst, unsigned max)
{
    if (src->n_rx == 0 || dst->n_tx == 0 || max == 0)
        return 0;
    struct fwd f;
    f.zero_copy = anm_rings_same_pool(src, dst);
    txc_open(&f.tx, dst);
    unsigned done = rx_rounds(src, max, take_forward, &f);
    txc_publish(&f.tx);
    return done;
}
