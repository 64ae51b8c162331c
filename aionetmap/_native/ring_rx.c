/*
 * Ring walking, part 2: RX. Complete NS_MOREFRAG chains are scanned out of each ring once
 * (every slot value copied to private memory and checked) and handed to a take() callback:
 * a copy into the caller's arena here, a buffer swap or copy in ring_fwd.c.
 */
#include "ring_int.h"

#include <string.h>

/* ---- RX -------------------------------------------------------------------------------- */

/* The slots of kr and the limits they are checked against. */
static inline struct slot_ring rx_slots(const struct anm_ring *kr)
{
    return (struct slot_ring){kr->ring->slot, kr->num_slots, kr->nbufs, kr->buf_size};
}

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
    struct slot_ring sr = rx_slots(kr);
    uint32_t i = head;
    if (kr->skip_chain) { /* still dropping the rest of a hopeless chain */
        int ended;
        i = chain_skip(&sr, head, tail, &ended);
        if (ended)
            kr->skip_chain = 0;
    }
    int stop = 0;
    struct chain c;
    while (i != tail && *budget > 0) {
        chain_scan(&sr, i, tail, &c);
        if (!c.complete) {
            /* Wait for the rest, unless it can never fit: then drop what is here and the
             * rest of the chain as it arrives, so the ring cannot jam. */
            if (chain_hopeless(&c, n)) {
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

unsigned ring_rx_rounds(struct anm_rings *r, unsigned max, take_fn take, void *ctx)
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
    ring_rx_rounds(r, max, take_copy, &sk);
    return sk.n;
}
