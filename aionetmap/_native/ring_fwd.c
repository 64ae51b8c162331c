/*
 * Ring walking, part 4: forwarding from one anm_rings' RX rings to another's TX rings, by
 * exchanging buffer indices when both use the same buffer pool, by copying otherwise.
 */
#include "ring_int.h"

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
    if (ring_txc_buffers(c, ch->nfrag, tidx) < 0)
        return -1;
    uint32_t k = c->h;
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
    int refused = 0;
    uint32_t need;
    if (swap) /* a swap takes one slot per fragment whatever the ring's buffer size */
        need = ring_txc_room(c, ch->nfrag) ? ch->nfrag : 0;
    else
        need = ring_txc_fit(c, ch->total, &refused);
    if (refused) {
        r->stats.fwd_dropped++;
        return TAKE_DROP;
    }
    if (need == 0)
        return TAKE_STOP;
    int rc;
    if (swap) {
        rc = fwd_swap(c, kr, i, ch);
    } else {
        struct iov v[NETMAP_MAX_FRAGS];
        for (uint32_t j = 0; j < ch->nfrag; j++)
            v[j] = (struct iov){kr->bufs + (size_t)ch->frag[j].idx * kr->buf_size,
                                ch->frag[j].len};
        rc = ring_tx_write(c, need, v, ch->nfrag, ch->total);
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
    ring_txc_open(&f.tx, dst);
    unsigned done = ring_rx_rounds(src, max, take_forward, &f);
    ring_txc_publish(&f.tx);
    return done;
}
