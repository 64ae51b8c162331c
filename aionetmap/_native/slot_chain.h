/*
 * Reading one NS_MOREFRAG chain of slots out of a netmap ring, written once for the ring
 * walker's RX side (ring_rx.c) and the software pipe's TX "kernel" (pipe_sync.c).
 *
 * The ring is shared with someone we do not control: every slot field is read once into
 * private memory (the chain) and checked there against the geometry the caller validated
 * at init (num_slots, nbufs, buf_size), never against anything read from the ring later.
 */
#ifndef AIONETMAP_SLOT_CHAIN_H
#define AIONETMAP_SLOT_CHAIN_H

#include "anm_common.h"
#include "netmap_abi.h"

/* chain.bad: the first bad slot's fault (its buffer index, or its length). */
enum { CH_OK = 0, CH_BAD_BUF, CH_BAD_LEN };

struct frag {
    uint32_t idx;
    uint32_t len;
};

/* One chain as scanned (values copied out once). */
struct chain {
    uint32_t end;   /* slot after the last one scanned */
    uint32_t nfrag; /* slots scanned (may exceed NETMAP_MAX_FRAGS; only that many are kept) */
    uint64_t total;
    int complete; /* the last slot scanned has no NS_MOREFRAG */
    int bad;      /* CH_* of the first bad slot */
    struct frag frag[NETMAP_MAX_FRAGS];
};

/* The caller's private copy of a ring's geometry: slots, and the limits they are checked
 * against (valid buffer indices are [2, nbufs), lengths at most buf_size). */
struct slot_ring {
    const struct netmap_slot *slot;
    uint32_t num_slots;
    uint32_t nbufs;
    uint32_t buf_size;
};

/* Scan the chain starting at slot i (i != stop, both < num_slots), stopping after its last
 * slot or at stop (the first slot not ours to read: an RX tail, a TX head). */
static inline void chain_scan(const struct slot_ring *sr, uint32_t i, uint32_t stop,
                              struct chain *c)
{
    c->nfrag = 0;
    c->total = 0;
    c->complete = 0;
    c->bad = CH_OK;
    do {
        const struct netmap_slot *s = &sr->slot[i];
        uint32_t idx = LOAD(s->buf_idx);
        uint32_t len = LOAD(s->len);
        uint16_t fl = LOAD(s->flags);
        if (c->bad == CH_OK) {
            if (idx < 2 || idx >= sr->nbufs)
                c->bad = CH_BAD_BUF;
            else if (len > sr->buf_size)
                c->bad = CH_BAD_LEN;
        }
        if (c->nfrag < NETMAP_MAX_FRAGS)
            c->frag[c->nfrag] = (struct frag){idx, len};
        c->nfrag++;
        c->total += len;
        i = nxt(i, sr->num_slots);
        if (!(fl & NS_MOREFRAG)) {
            c->complete = 1;
            break;
        }
    } while (i != stop);
    c->end = i;
}

/* An incomplete chain that can never complete in a ring of n slots (longer than netmap
 * allows, or than the ring can hold at once): drop it rather than wait, or the ring jams. */
static inline int chain_hopeless(const struct chain *c, uint32_t n)
{
    return c->nfrag > NETMAP_MAX_FRAGS || c->nfrag >= n - 1;
}

/* Pass over the rest of a chain whose beginning was dropped as hopeless, from slot i up to
 * stop. Returns the slot after it; *ended says whether its last slot was reached. */
static inline uint32_t chain_skip(const struct slot_ring *sr, uint32_t i, uint32_t stop,
                                  int *ended)
{
    *ended = 0;
    while (i != stop) {
        uint16_t fl = LOAD(sr->slot[i].flags);
        i = nxt(i, sr->num_slots);
        if (!(fl & NS_MOREFRAG)) {
            *ended = 1;
            break;
        }
    }
    return i;
}

#endif /* AIONETMAP_SLOT_CHAIN_H */
