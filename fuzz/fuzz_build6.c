/*
 * Harness for the fast path's builders with what the IPv6/group send side added:
 * fast_udp6_build_to (fast_tx6.c) and fast_udp_build_to's group TTL (fast.c), on random
 * lengths, table indexes, payload buffer sizes, limits and arena sizes.
 *
 * Every buffer the code may touch is an exact-size allocation. Checks: the number built
 * never exceeds count; frames are packed from offset 0 inside the arena; each frame's
 * length is its header overhead plus its payload; the stop is at a datagram that is
 * invalid or does not fit (and never earlier); the UDP checksum (IPv6 pseudo-header,
 * never 0) and the IPv4 header checksum verify; the payload bytes are those given; the
 * IPv4 TTL is group_ttl exactly for group destinations.
 *
 * Input: a mode byte (IPv6 or IPv4), then sizes, the table, and per-datagram lengths and
 * indexes. Runs under libFuzzer (clang) or the standalone driver (standalone_main.c, gcc).
 */
#include <stdio.h>
#include <stdlib.h>

#include "fast.h"
#include "fuzz_input.h"

#define MAX_COUNT 24
#define MAX_DSTS 8
#define ARENA_MAX 16384
#define PAYLOADS_MAX 8192

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }

/* A payload length: mostly small, sometimes near or past the limits, sometimes huge. */
static uint32_t payload_len(struct input *in)
{
    switch (in_u8(in) & 3) {
    case 0:
        return in_u8(in);
    case 1:
        return in_u16(in) % 1600;
    case 2:
        return 65500 + in_u8(in) % 64;
    default:
        return in_u32(in);
    }
}

struct common {
    uint32_t count, ndsts, arena_size, eth;
    size_t payloads_size;
    char *payloads;
    uint32_t *plens, *index, *offs, *lens;
    uint8_t *arena;
};

static void read_common(struct input *in, struct common *c, uint16_t vlan)
{
    c->count = in_u8(in) % (MAX_COUNT + 1);
    c->ndsts = in_u8(in) % (MAX_DSTS + 1);
    c->arena_size = in_range(in, 0, ARENA_MAX);
    c->payloads_size = in_range(in, 0, PAYLOADS_MAX);
    c->eth = vlan ? 18 : 14;
    c->payloads = malloc(c->payloads_size ? c->payloads_size : 1);
    for (size_t i = 0; i < c->payloads_size; i++)
        c->payloads[i] = (char)(i * 7 + 3);
    c->plens = malloc(sizeof(uint32_t) * (c->count ? c->count : 1));
    c->index = malloc(sizeof(uint32_t) * (c->count ? c->count : 1));
    c->offs = malloc(sizeof(uint32_t) * (c->count ? c->count : 1));
    c->lens = malloc(sizeof(uint32_t) * (c->count ? c->count : 1));
    c->arena = malloc(c->arena_size ? c->arena_size : 1);
    for (uint32_t i = 0; i < c->count; i++) {
        c->plens[i] = payload_len(in);
        c->index[i] = in_u8(in) % (MAX_DSTS + 2);
    }
}

static void free_common(struct common *c)
{
    free(c->payloads);
    free(c->plens);
    free(c->index);
    free(c->offs);
    free(c->lens);
    free(c->arena);
}

/* The packing and stop rules both builders share; returns the payload offset of frame i
 * in c->payloads through taken_at. */
static void check_layout(const struct common *c, uint32_t built, uint32_t overhead,
                         uint32_t limit, uint64_t *taken_at)
{
    CHECK(built <= c->count);
    uint64_t pos = 0, taken = 0;
    for (uint32_t i = 0; i < built; i++) {
        CHECK(c->plens[i] <= limit);
        CHECK(c->index[i] < c->ndsts);
        CHECK(c->offs[i] == pos);
        CHECK(c->lens[i] == overhead - 14 + c->eth + c->plens[i]);
        CHECK((uint64_t)c->offs[i] + c->lens[i] <= c->arena_size);
        taken_at[i] = taken;
        pos += c->lens[i];
        taken += c->plens[i];
    }
    CHECK(taken <= c->payloads_size);
    if (built < c->count) { /* it stopped for a reason */
        uint32_t n = c->plens[built];
        uint64_t flen = (uint64_t)overhead - 14 + c->eth + n;
        CHECK(n > limit || taken + n > c->payloads_size || c->index[built] >= c->ndsts ||
              pos + flen > c->arena_size);
    }
}

static void run6(struct input *in)
{
    struct fast_src6 src = {0};
    in_bytes(in, src.mac, 6);
    src.hop_limit = in_u8(in);
    src.vlan_tci = in_u8(in) & 1 ? in_u16(in) % 4095 : 0;
    uint32_t max_payload = in_u8(in) & 1 ? in_u32(in) : in_u16(in) % 1600;
    uint16_t sport = in_u16(in);
    struct common c;
    read_common(in, &c, src.vlan_tci);
    struct fast_dst6 *dsts = malloc(sizeof *dsts * (c.ndsts ? c.ndsts : 1));
    for (uint32_t k = 0; k < c.ndsts; k++)
        in_bytes(in, &dsts[k], sizeof dsts[k]);
    uint32_t built = fast_udp6_build_to(&src, sport, max_payload, c.payloads, c.payloads_size,
                                        c.plens, dsts, c.ndsts, c.index, c.count, c.arena,
                                        c.arena_size, c.offs, c.lens);
    uint32_t limit = max_payload < FAST_MAX_UDP6_PAYLOAD ? max_payload : FAST_MAX_UDP6_PAYLOAD;
    uint64_t taken[MAX_COUNT];
    check_layout(&c, built, FAST_UDP6_OVERHEAD, limit, taken);
    for (uint32_t i = 0; i < built; i++) {
        const uint8_t *f = c.arena + c.offs[i], *ip = f + c.eth, *udp = ip + 40;
        const struct fast_dst6 *d = &dsts[c.index[i]];
        uint32_t length = 8 + c.plens[i];
        CHECK(ip[0] == 0x60 && ip[6] == 17 && ip[7] == src.hop_limit);
        CHECK(rd16(ip + 4) == length && rd16(udp + 4) == length);
        CHECK(memcmp(ip + 8, d->src, 16) == 0 && memcmp(ip + 24, d->ip, 16) == 0);
        CHECK(memcmp(udp + 8, c.payloads + taken[i], c.plens[i]) == 0);
        CHECK(rd16(udp + 6) != 0);
        uint64_t pseudo = length + 17;
        for (int w = 0; w < 32; w += 2)
            pseudo += rd16(ip + 8 + w);
        CHECK(ref_checksum(udp, length, pseudo) == 0);
    }
    free(dsts);
    free_common(&c);
}

static void run4(struct input *in)
{
    struct fast_src src = {0};
    in_bytes(in, src.mac, 6);
    src.ip = in_u32(in);
    src.ttl = in_u8(in);
    src.group_ttl = in_u8(in);
    src.vlan_tci = in_u8(in) & 1 ? in_u16(in) % 4095 : 0;
    uint16_t sport = in_u16(in), ident = in_u16(in), step = in_u16(in);
    struct common c;
    read_common(in, &c, src.vlan_tci);
    struct fast_dst *dsts = malloc(sizeof *dsts * (c.ndsts ? c.ndsts : 1));
    for (uint32_t k = 0; k < c.ndsts; k++) {
        in_bytes(in, dsts[k].mac, 6);
        dsts[k].port = in_u16(in);
        dsts[k].ip = in_u32(in);
    }
    uint32_t built = fast_udp_build_to(&src, sport, ident, step, c.payloads, c.payloads_size,
                                       c.plens, dsts, c.ndsts, c.index, c.count, c.arena,
                                       c.arena_size, c.offs, c.lens);
    uint64_t taken[MAX_COUNT];
    check_layout(&c, built, FAST_UDP_OVERHEAD, FAST_MAX_UDP_PAYLOAD, taken);
    for (uint32_t i = 0; i < built; i++) {
        const uint8_t *ip = c.arena + c.offs[i] + c.eth;
        const struct fast_dst *d = &dsts[c.index[i]];
        CHECK(ip[8] == (d->ip >> 28 == 0xE ? src.group_ttl : src.ttl));
        CHECK(ref_checksum(ip, 20, 0) == 0);
        CHECK(memcmp(ip + 28, c.payloads + taken[i], c.plens[i]) == 0);
    }
    free(dsts);
    free_common(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    if (in_u8(&in) & 1)
        run4(&in);
    else
        run6(&in);
    return 0;
}
