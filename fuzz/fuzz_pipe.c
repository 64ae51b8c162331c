/*
 * libFuzzer harness for the software pipe (pipe_*.c over ring_*.c): both ends of one pipe
 * attached in this process, driven by a fuzzed sequence of TX bursts, syncs, receives,
 * forwards, state changes, re-attaches and scribbles anywhere in the region (the control
 * area, ring headers, slots, shadows) as a misbehaving peer process could make them.
 *
 * Besides "no crash, no hang, no access outside the region" it checks delivery: until the
 * first scribble (or state change or forward), every frame received on an end is the next
 * one the other end sent, intact.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_input.h"
#include "pipe.h"
#include "ring.h"

#define ARENA 4096
#define BURST 48

struct end {
    struct anm_pipe p;
    struct anm_rings r;
    int ok;              /* attached and rings found */
    uint32_t sent, recv; /* sequence numbers: next to send, next expected from the peer */
};

static size_t region_size;
static int clean; /* no damage so far: delivery must be exact */

static int attach(struct end *e, uint8_t *base, unsigned which)
{
    char err[160];
    e->ok = anm_pipe_attach(&e->p, base, region_size, which, -1, -1, err, sizeof err) == 0 &&
            anm_rings_init(&e->r, base, region_size, e->p.nifp_off, ANM_RINGS_FRAGMENTS, err,
                           sizeof err) == 0;
    return e->ok;
}

/* A frame's first 4 bytes are its sequence number, the rest a pattern derived from it. */
static void fill(uint8_t *f, uint32_t len, uint32_t seq)
{
    for (uint32_t i = 0; i < len; i++)
        f[i] = (uint8_t)(seq * 7 + i);
    if (len >= 4)
        memcpy(f, &seq, 4);
}

static void send_frames(struct end *e, struct input *in)
{
    static uint8_t data[BURST * 600];
    uint32_t lens[BURST], pos = 0;
    unsigned n = in_u8(in) % BURST + 1;
    for (unsigned i = 0; i < n; i++) {
        /* mostly small frames; sometimes a chain (buffers are 64..512 bytes) */
        lens[i] = in_u8(in) & 7 ? 4 + in_u8(in) % 120 : 4 + in_u16(in) % 590;
        fill(data + pos, lens[i], e->sent + i);
        pos += lens[i];
    }
    unsigned done = anm_tx_burst(&e->r, (const char *)data, pos, NULL, lens, n);
    CHECK(done <= n);
    e->sent += done;
}

static void check_frames(struct end *to, const uint8_t *arena, const uint32_t *offs,
                         const uint32_t *lens, int got)
{
    for (int i = 0; clean && i < got; i++) {
        uint8_t want[600];
        CHECK(lens[i] >= 4 && lens[i] <= sizeof want);
        fill(want, lens[i], to->recv);
        CHECK(memcmp(arena + offs[i], want, lens[i]) == 0);
        to->recv++;
    }
}

static void recv_frames(struct end *e, struct input *in)
{
    static uint8_t arena[ARENA];
    uint32_t offs[BURST], lens[BURST];
    unsigned max = in_u8(in) % BURST + 1;
    int got = anm_pipe_recv(&e->p, &e->r, arena, ARENA, offs, lens, max);
    CHECK(got >= -1 && got <= (int)max);
    if (got < 0)
        clean = 0;
    else
        check_frames(e, arena, offs, lens, got);
}

static void scribble(uint8_t *base, struct input *in)
{
    size_t off;
    uint8_t how = in_u8(in);
    if (how & 1) /* the control area and the shadows: the first two pages */
        off = in_u16(in) % (region_size < 8192 ? region_size : 8192);
    else
        off = in_u32(in) % region_size;
    size_t len = how >> 1 & 7;
    if (len > region_size - off)
        len = region_size - off;
    if (how & 0x10) { /* a 32-bit field set to a small number: gets past more checks */
        uint32_t v = in_u8(in) % 70;
        off &= ~(size_t)3;
        if (off + 4 <= region_size)
            memcpy(base + off, &v, 4);
    } else {
        in_bytes(in, base + off, len);
    }
    clean = 0;
}

static void step(struct end ends[2], uint8_t *base, struct input *in)
{
    uint8_t op = in_u8(in);
    struct end *e = &ends[op & 1], *peer = &ends[!(op & 1)];
    op >>= 1;
    if (op % 12 == 11) {
        scribble(base, in);
        return;
    }
    if (op % 12 == 10) { /* the process re-attaches (as a new owner would) */
        attach(e, base, (unsigned)(e - ends));
        e->ok = e->ok && anm_pipe_claim(&e->p, anm_pipe_state(&e->p, e->p.end), 1);
        clean = 0;
        return;
    }
    if (!e->ok)
        return;
    switch (op % 12) {
    case 0: case 1: send_frames(e, in); break;
    case 2: if (anm_pipe_txsync(&e->p, &e->r) < 0) clean = 0; break;
    case 3: if (anm_pipe_rxsync(&e->p) < 0) clean = 0; break;
    case 4: case 5: recv_frames(e, in); break;
    case 6: anm_pipe_clear(&e->p); anm_pipe_ready(&e->p); break;
    case 7:
        anm_tx_space(&e->r), anm_rx_pending(&e->r), anm_tx_pending(&e->r),
            anm_tx_in_flight(&e->r);
        anm_pipe_counters(&e->p, e->p.end);
        break;
    case 8: /* forward what we received to our own TX (swap) or the peer's TX (copy) */
        if (anm_pipe_forward(&e->p, &e->r, in_u8(in) & 1 || !peer->ok ? &e->r : &peer->r,
                             in_u8(in) % 64) < 0)
            clean = 0;
        clean = 0;
        break;
    default: /* close, or hand over and take back */
        anm_pipe_set_state(&e->p, in_u8(in) & 1 ? ANM_END_CLOSED : ANM_END_DETACHED);
        anm_pipe_claim(&e->p, anm_pipe_state(&e->p, e->p.end), 1);
        clean = 0;
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    uint32_t slots = in_range(&in, ANM_PIPE_MIN_SLOTS, 64);
    uint32_t buf_size = 64 * in_range(&in, 1, 8);
    region_size = anm_pipe_region_size(slots, buf_size);
    CHECK(region_size > 0);
    void *mem = NULL;
    if (posix_memalign(&mem, 4096, region_size) != 0)
        abort();
    uint8_t *base = mem;
    memset(base, 0, region_size);
    char err[160];
    CHECK(anm_pipe_format(base, region_size, slots, buf_size, err, sizeof err) == 0);
    static struct end ends[2];
    memset(ends, 0, sizeof ends);
    clean = 1;
    for (unsigned i = 0; i < 2; i++) {
        CHECK(attach(&ends[i], base, i));
        CHECK(anm_pipe_claim(&ends[i].p, ANM_END_FREE, 1));
    }
    for (int n = 0; n < 400 && in_left(&in); n++)
        step(ends, base, &in);
    if (clean) { /* drain: everything sent must arrive */
        for (int round = 0; round < 4 * 64; round++) {
            for (int i = 0; i < 2; i++) {
                static uint8_t arena[ARENA];
                uint32_t offs[BURST], lens[BURST];
                anm_pipe_txsync(&ends[i].p, &ends[i].r);
                int got = anm_pipe_recv(&ends[!i].p, &ends[!i].r, arena, ARENA, offs, lens,
                                        BURST);
                CHECK(got >= 0);
                check_frames(&ends[!i], arena, offs, lens, got);
            }
        }
        CHECK(ends[1].recv == ends[0].sent && ends[0].recv == ends[1].sent);
    }
    free(base);
    return 0;
}
