/*
 * The software pipe, part 1: the region's layout (see pipe.h), formatting a fresh region,
 * attaching to one (every offset recomputed from the header's two numbers, read once), and
 * the end-state accessors.
 */
#include "pipe_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ANM_PIPE_MAGIC 0x31455049504d4e41ULL /* "ANMPIPE1" */
#define ANM_PIPE_VERSION 1
#define NIFP_SIZE (sizeof(struct netmap_if) + 4 * sizeof(int64_t))

struct layout {
    size_t shadow, nifp[2], ring[4], pool, total;
};

static size_t up(size_t v, size_t a) { return (v + a - 1) / a * a; }

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
    STORE_REL(c->magic, ANM_PIPE_MAGIC);
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
    if (LOAD_ACQ(c->magic) != ANM_PIPE_MAGIC ||
        LOAD(c->version) != ANM_PIPE_VERSION)
        return anm_fail(err, errlen, EINVAL, "region is not a version-%d aionetmap pipe",
                    ANM_PIPE_VERSION);
    uint32_t slots = LOAD(c->slots), buf_size = LOAD(c->buf_size); /* then only our copies */
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
