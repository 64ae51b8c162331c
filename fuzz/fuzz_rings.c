/*
 * libFuzzer harness for the ring walker (ring_*.c): anm_rings_init on an arbitrary region,
 * then RX/TX bursts, queries and forwarding on a region whose rings a fuzzed "kernel" fills,
 * drains and scribbles on between calls.
 *
 * Input byte 0 picks the mode. Raw: the rest is the region itself (its first 8 bytes the
 * netmap_if offset). Structured: a well-formed region with two netmap_ifs over one buffer
 * pool is built from a few parameters, then a sequence of operations runs on it.
 * The region is an exact-size allocation, so AddressSanitizer flags any access outside it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_input.h"
#include "ring.h"

#define MAX_RINGS 3
#define ARENA_MAX 8192
#define MAX_BURST 80

static uint8_t *region_alloc(size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, NM_CACHE_ALIGN, size ? size : 1) != 0)
        abort();
    memset(p, 0, size);
    return p;
}

static void fuzz_raw(struct input *in)
{
    uint64_t nifp_off = in_u32(in) % 4096;
    size_t size = in->n;
    uint8_t *base = region_alloc(size);
    in_bytes(in, base, size);
    static struct anm_rings r;
    char err[128];
    if (anm_rings_init(&r, base, size, nifp_off, ANM_RINGS_FRAGMENTS, err, sizeof err) == 0) {
        uint8_t arena[2048];
        uint32_t offs[8], lens[8];
        anm_rx_pending(&r);
        anm_tx_space(&r);
        anm_rx_burst(&r, arena, sizeof arena, offs, lens, 8);
        static const uint32_t sizes[3] = {60, 1500, 3000};
        anm_tx_burst(&r, (const char *)arena, sizeof arena, NULL, sizes, 3);
    } else {
        CHECK(memchr(err, 0, sizeof err) != NULL);
    }
    free(base);
}

/* A region as netmap lays it out: two netmap_ifs, each with ntx TX and nrx RX rings (and an
 * unbound host ring per direction), then one buffer pool for all of them. */
struct layout {
    size_t nifp[2], ring[2][2 * MAX_RINGS], pool, size;
    unsigned ntx, nrx;
    uint32_t slots;
};

static size_t up(size_t v, size_t a) { return (v + a - 1) / a * a; }

static uint8_t *build(struct layout *L, uint32_t buf_size, uint32_t buf_size_b)
{
    unsigned entries = L->ntx + 1 + L->nrx + 1, nr = L->ntx + L->nrx;
    size_t o = 0;
    for (int i = 0; i < 2; i++) {
        L->nifp[i] = o;
        o = up(o + sizeof(struct netmap_if) + 8 * entries, NM_CACHE_ALIGN);
    }
    size_t ring_bytes = up(sizeof(struct netmap_ring) + L->slots * sizeof(struct netmap_slot),
                           NM_CACHE_ALIGN);
    for (int i = 0; i < 2; i++)
        for (unsigned k = 0; k < nr; k++, o += ring_bytes)
            L->ring[i][k] = o;
    L->pool = up(o, 4096);
    uint32_t big = buf_size > buf_size_b ? buf_size : buf_size_b;
    uint32_t nbufs = 2 + 2 * nr * L->slots + 8;
    L->size = L->pool + (size_t)nbufs * big;
    uint8_t *base = region_alloc(L->size);
    uint32_t next = 2;
    for (int i = 0; i < 2; i++) {
        struct netmap_if *nifp = (struct netmap_if *)(base + L->nifp[i]);
        nifp->ni_tx_rings = L->ntx;
        nifp->ni_rx_rings = L->nrx;
        nifp->ni_host_tx_rings = nifp->ni_host_rx_rings = 1;
        unsigned e = 0;
        for (unsigned k = 0; k < nr; k++) {
            if (k == L->ntx)
                e++; /* the host TX ring, unbound */
            nifp->ring_ofs[e++] = (int64_t)L->ring[i][k] - (int64_t)L->nifp[i];
            struct netmap_ring *ring = (struct netmap_ring *)(base + L->ring[i][k]);
            int is_rx = k >= L->ntx;
            ring->buf_ofs = (int64_t)L->pool - (int64_t)L->ring[i][k];
            ring->num_slots = L->slots;
            ring->nr_buf_size = i ? buf_size_b : buf_size;
            ring->dir = (uint16_t)is_rx;
            ring->tail = is_rx ? 0 : L->slots - 1;
            for (uint32_t s = 0; s < L->slots; s++)
                ring->slot[s].buf_idx = next++;
        }
    }
    return base;
}

static struct netmap_ring *ring_at(uint8_t *base, const struct layout *L, struct input *in)
{
    unsigned i = in_u8(in) & 1, k = in_u8(in) % (L->ntx + L->nrx);
    return (struct netmap_ring *)(base + L->ring[i][k]);
}

/* The kernel's side of one ring: publish received slots (RX) or take sent ones (TX). Slot
 * numbers are kept near the valid range so most operations get past the range checks. */
static void kernel_step(uint8_t *base, const struct layout *L, struct input *in)
{
    struct netmap_ring *ring = ring_at(base, L, in);
    uint32_t n = L->slots, k = in_u8(in) % (n + 1);
    if (ring->dir) {
        uint32_t t = ring->tail % n;
        for (uint32_t j = 0; j < k; j++, t = (t + 1) % n) {
            ring->slot[t].len = in_u16(in) % 2100;
            ring->slot[t].flags = in_u8(in) & 1 ? NS_MOREFRAG : 0;
        }
        ring->tail = t;
    } else {
        ring->tail = (ring->head + n - 1) % n;
    }
}

static void scribble(uint8_t *base, const struct layout *L, struct input *in)
{
    uint8_t how = in_u8(in);
    if (how & 1) { /* a ring index or a slot field set to something near its range */
        struct netmap_ring *ring = ring_at(base, L, in);
        uint32_t v = in_u8(in) % (L->slots + 3);
        switch (how >> 1 & 7) {
        case 0: ring->head = v; break;
        case 1: ring->cur = v; break;
        case 2: ring->tail = v; break;
        case 3: ring->slot[v % L->slots].buf_idx = in_u32(in) % (4 * L->slots * 2 + 16); break;
        case 4: ring->slot[v % L->slots].len = in_u16(in); break;
        case 5: ring->slot[v % L->slots].flags = in_u16(in); break;
        default: ring->slot[v % L->slots].buf_idx = in_u32(in); break;
        }
    } else { /* any bytes anywhere */
        size_t off = in_u32(in) % L->size;
        size_t len = in_u8(in) % 9;
        if (len > L->size - off)
            len = L->size - off;
        in_bytes(in, base + off, len);
    }
}

static void tx_frames(struct anm_rings *r, struct input *in, int packed)
{
    static uint8_t data[ARENA_MAX];
    uint32_t offs[MAX_BURST], lens[MAX_BURST];
    unsigned n = in_u8(in) % MAX_BURST;
    uint32_t pos = 0;
    for (unsigned i = 0; i < n; i++) {
        lens[i] = in_u16(in) % 5000;
        offs[i] = in_u8(in) & 1 ? in_u16(in) : pos; /* sometimes a stray offset */
        pos = (pos + lens[i]) % ARENA_MAX;
    }
    size_t data_len = in_u16(in) % (ARENA_MAX + 1);
    unsigned done;
    if (packed) {
        int rc = anm_tx_packed(r, (const char *)data, data_len, lens, n);
        CHECK(rc >= ANM_TX_OVERSIZE && rc <= (int)n);
        return;
    }
    if (in_u8(in) & 1) { /* send_batch's entry: lengths checked first, then the burst */
        uint32_t longest = 0;
        for (unsigned i = 0; i < n; i++)
            longest = lens[i] > longest ? lens[i] : longest;
        int rc = anm_tx_batch(r, (const char *)data, data_len, offs, lens, n);
        CHECK(longest > r->max_frame ? rc == ANM_TX_OVERSIZE : rc >= 0 && rc <= (int)n);
        return;
    }
    done = anm_tx_burst(r, (const char *)data, data_len, in_u8(in) & 1 ? offs : NULL, lens, n);
    CHECK(done <= n);
}

static void rx_frames(struct anm_rings *r, struct input *in)
{
    size_t arena_len = in_u16(in) % (ARENA_MAX + 1);
    unsigned max = in_u8(in) % MAX_BURST + 1;
    uint8_t *arena = malloc(arena_len ? arena_len : 1);
    uint32_t *offs = malloc(sizeof(uint32_t) * max), *lens = malloc(sizeof(uint32_t) * max);
    unsigned got = anm_rx_burst(r, arena, arena_len, offs, lens, max);
    CHECK(got <= max);
    size_t end = 0; /* frames are packed in order inside the arena */
    for (unsigned i = 0; i < got; i++) {
        CHECK(offs[i] == end && lens[i] <= arena_len - end);
        end += lens[i];
    }
    free(arena), free(offs), free(lens);
}

static void fuzz_structured(struct input *in)
{
    struct layout L;
    L.ntx = in_range(in, 1, MAX_RINGS);
    L.nrx = in_range(in, 1, MAX_RINGS);
    L.slots = in_range(in, 2, 40);
    uint32_t buf_size = in_range(in, 1, 2048);
    uint32_t buf_size_b = in_u8(in) & 1 ? buf_size : in_range(in, 1, 2048);
    uint8_t *base = build(&L, buf_size, buf_size_b);
    for (int k = in_u8(in) % 4; k > 0; k--) /* damage before init: the validator's turn */
        scribble(base, &L, in);
    static struct anm_rings a, b;
    char err[128];
    int flags_a = in_u8(in) & 1 ? ANM_RINGS_FRAGMENTS : 0;
    int ok_a = anm_rings_init(&a, base, L.size, L.nifp[0], flags_a, err, sizeof err) == 0;
    int ok_b = anm_rings_init(&b, base, L.size, L.nifp[1], ANM_RINGS_FRAGMENTS, err,
                              sizeof err) == 0;
    for (int steps = 0; steps < 200 && in_left(in); steps++) {
        struct anm_rings *r = in_u8(in) & 1 ? &b : &a;
        int ok = r == &a ? ok_a : ok_b;
        uint8_t op = in_u8(in) % 9;
        if (op == 0)
            kernel_step(base, &L, in);
        else if (op == 1)
            scribble(base, &L, in);
        else if (!ok)
            continue;
        else if (op == 2)
            rx_frames(r, in);
        else if (op == 3 || op == 4)
            tx_frames(r, in, op == 4);
        else if (op == 5)
            anm_tx_space(r), anm_rx_pending(r), anm_tx_pending(r), anm_tx_in_flight(r);
        else if (op == 6 && ok_a && ok_b)
            CHECK(anm_forward(r, r == &a ? &b : &a, in_u8(in)) <= 255);
        else if (op == 7 && ok)
            anm_forward(r, r, in_u8(in) % 70);
        else if (op == 8 && ok_a && ok_b)
            anm_rings_same_pool(&a, &b);
    }
    free(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    if (in_u8(&in) & 1)
        fuzz_raw(&in);
    else
        fuzz_structured(&in);
    return 0;
}
