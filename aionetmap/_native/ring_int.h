/*
 * Internals shared by the ring walker's files (ring_init.c, ring_rx.c, ring_tx.c,
 * ring_fwd.c); nothing here is part of the module's interface (that is ring.h).
 */
#ifndef AIONETMAP_RING_INT_H
#define AIONETMAP_RING_INT_H

#include "anm_common.h"
#include "ring.h"
#include "slot_chain.h"

enum { TAKE_OK, TAKE_DROP, TAKE_STOP };

struct iov {
    const uint8_t *p;
    size_t len;
};

/* ---- RX (ring_rx.c) ---------------------------------------------------------------------- */

/* Called for each complete, valid chain starting at RX slot i of kr: TAKE_OK consumes it and
 * counts against the budget, TAKE_DROP consumes it for free, TAKE_STOP leaves it and ends the
 * walk. */
typedef int (*take_fn)(void *ctx, struct anm_rings *r, struct anm_ring *kr, uint32_t i,
                       const struct chain *c);

/* Walk the RX rings round-robin, starting one ring later than the previous call, handing at
 * most max chains to take(). Returns how many take() accepted. */
unsigned ring_rx_rounds(struct anm_rings *r, unsigned max, take_fn take, void *ctx);

/* ---- TX (ring_tx.c) ---------------------------------------------------------------------- */

/* A cursor over the TX rings: fills the current ring, publishes it and moves on when full. */
struct txc {
    struct anm_rings *r;
    struct anm_ring *kr; /* NULL once every ring was tried */
    unsigned tried;
    uint32_t head0;
    uint32_t h;
    uint32_t space;
};

void ring_txc_open(struct txc *c, struct anm_rings *r);
/* Publish the slots filled on the current ring (head = cur = the cursor). */
void ring_txc_publish(struct txc *c);
/* Make sure the current ring has need free slots, moving to later rings if not.
 * Returns 0 when no ring has room. */
int ring_txc_room(struct txc *c, uint32_t need);
/* Move the cursor to a ring with room for a frame of total bytes (the current ring or a
 * later one) and return the slots the frame takes there; 0 when no ring has room (c->kr is
 * then NULL), or, with *refused set, when the ring reached can never carry such a frame
 * (longer than its slots or netmap allow): the frame must be dropped, not waited on. */
uint32_t ring_txc_fit(struct txc *c, uint64_t total, int *refused);
/* Read the buffer indices of the need slots from c->h into idx[0..need); -1 if one of them
 * is outside [2, nbufs) (the user may have written anything there). */
int ring_txc_buffers(const struct txc *c, uint32_t need, uint32_t *idx);
/* Write one frame, gathered from v[0..nv), into need slots from c->h (not yet published).
 * Returns -1, writing nothing, if one of those slots holds a bad buffer index. */
int ring_tx_write(struct txc *c, uint32_t need, const struct iov *v, unsigned nv,
                  uint64_t total);

#endif /* AIONETMAP_RING_INT_H */
