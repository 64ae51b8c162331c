/*
 * Ring walking, part 1: finding and validating the rings of one netmap_if (the only place
 * ring geometry is read from the region; it is copied into struct anm_ring), and the
 * read-only queries over them. See ring.h for the trust model.
 */
#include "ring_int.h"

#include <errno.h>
#include <string.h>

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

unsigned anm_tx_in_flight(const struct anm_rings *r)
{
    /* [next(tail), head) holds slots the user queued that the other side has not handed
     * back yet: still to be synced, or taken but not yet transmitted or read. */
    uint64_t slots = 0;
    for (unsigned t = 0; t < r->n_tx; t++) {
        const struct anm_ring *kr = &r->tx[t];
        uint32_t head = LOAD(kr->ring->head), tail = LOAD(kr->ring->tail);
        if (head < kr->num_slots && tail < kr->num_slots)
            slots += anm_dist(nxt(tail, kr->num_slots), head, kr->num_slots);
    }
    return slots > UINT32_MAX ? UINT32_MAX : (unsigned)slots;
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
