/*
 * Ring walking, part 3: TX. A cursor fills the free slots [head, tail) of one TX ring after
 * another; every buffer index is read once and checked before a byte is written.
 */
#include "ring_int.h"

#include <string.h>

/* ---- TX -------------------------------------------------------------------------------- */

void ring_txc_publish(struct txc *c)
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

void ring_txc_open(struct txc *c, struct anm_rings *r)
{
    c->r = r;
    c->tried = 0;
    txc_load(c);
}

int ring_txc_room(struct txc *c, uint32_t need)
{
    while (c->kr != NULL && c->space < need) {
        ring_txc_publish(c);
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

uint32_t ring_txc_fit(struct txc *c, uint64_t total, int *refused)
{
    *refused = 0;
    /* The slot count depends on the ring's buffer size, so it is worked out again on every
     * ring the cursor moves to: a count from a ring with larger buffers would cut the frame
     * short on this one. */
    while (c->kr != NULL) {
        uint32_t need = tx_need(c->r, c->kr, total);
        if (need == 0) {
            *refused = 1;
            return 0;
        }
        if (c->space >= need)
            return need;
        ring_txc_room(c, need);
    }
    return 0;
}

int ring_txc_buffers(const struct txc *c, uint32_t need, uint32_t *idx)
{
    const struct anm_ring *kr = c->kr;
    uint32_t k = c->h;
    for (uint32_t j = 0; j < need; j++, k = nxt(k, kr->num_slots)) {
        idx[j] = LOAD(kr->ring->slot[k].buf_idx);
        if (idx[j] < 2 || idx[j] >= kr->nbufs)
            return -1;
    }
    return 0;
}

int ring_tx_write(struct txc *c, uint32_t need, const struct iov *v, unsigned nv,
                  uint64_t total)
{
    struct anm_ring *kr = c->kr;
    struct netmap_slot *slot = kr->ring->slot;
    uint32_t idx[NETMAP_MAX_FRAGS];
    if (ring_txc_buffers(c, need, idx) < 0)
        return -1;
    unsigned vi = 0;
    size_t voff = 0;
    uint64_t left = total;
    uint32_t k = c->h;
    for (uint32_t j = 0; j < need; j++, k = nxt(k, kr->num_slots)) {
        uint32_t flen = left < kr->frag_cap ? (uint32_t)left : kr->frag_cap;
        uint8_t *dst = kr->bufs + (size_t)idx[j] * kr->buf_size;
        uint32_t done = 0;
        while (done < flen && vi < nv) {
            size_t take = v[vi].len - voff;
            if (take > flen - done)
                take = flen - done;
            /* memmove: the source may be a buffer of the same region (forward's copy path,
             * a caller sending from the mapping) that overlaps this one when rings disagree
             * on the buffer size or a buffer index is in two slots at once. */
            memmove(dst + done, v[vi].p + voff, take);
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
    ring_txc_open(&c, r);
    unsigned done = 0;
    size_t packed = 0;
    while (done < n && c.kr != NULL) {
        size_t off = offs != NULL ? offs[done] : packed;
        uint32_t len = lens[done];
        int refused = off > data_len || len > data_len - off;
        uint32_t need = refused ? 0 : ring_txc_fit(&c, len, &refused);
        if (refused) {
            r->stats.tx_refused++;
            break;
        }
        if (need == 0)
            break; /* no ring has room */
        struct iov v = {(const uint8_t *)data + off, len};
        if (ring_tx_write(&c, need, &v, 1, len) < 0) {
            r->stats.tx_bad_buf++;
            break;
        }
        packed = off + len;
        done++;
    }
    ring_txc_publish(&c);
    return done;
}

int anm_tx_batch(struct anm_rings *r, const char *data, size_t data_len, const uint32_t *offs,
                 const uint32_t *lens, unsigned n)
{
    if (lens == NULL)
        return 0;
    for (unsigned i = 0; i < n; i++)
        if (lens[i] > r->max_frame)
            return ANM_TX_OVERSIZE;
    return (int)anm_tx_burst(r, data, data_len, offs, lens, n);
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
