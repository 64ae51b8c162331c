/*
 * libFuzzer harness for the UDP fast path (fast.c and fast_rx6.c, with batchfmt.h):
 * fast_classify on arbitrary frames at arbitrary arena offsets, fast_payload_format on its
 * verdicts, the checksum against a byte-by-byte RFC 1071 reference, fast_udp_build_to
 * whose frames must classify back as the datagrams that were built, and IPv6 UDP and IPv4
 * group frames built from fuzzed fields (then damaged) whose IPv6 and group verdicts must
 * point back into them.
 *
 * Input: a host context (MAC, IP, broadcast, MTU, VLAN, bound and wildcard ports, whether
 * the partial-checksum rule is on, sometimes a table of IPv6 addresses, of any length
 * claimed), a mode byte, then frames and, in some modes, a checksum flag byte per frame.
 */
#include <stdio.h>
#include <stdlib.h>

#include "batchfmt.h"
#include "fast.h"
#include "fuzz_input.h"

#define MAX_FRAMES 64
#define ARENA_MAX 16384

static void check_checksum(struct input *in, const uint8_t *data, size_t n)
{
    uint64_t initial = in_u32(in); /* callers pass pseudo-header sums well under 2^32 */
    size_t start = n ? in_u8(in) % n : 0;
    uint16_t got = fast_inet_checksum(data + start, n - start, initial);
    uint16_t want = ref_checksum(data + start, n - start, initial);
    CHECK(got == want);
}

/* How many entries of the IPv6 table the classifier may use. */
static uint32_t ip6_entries(const struct fast_ctx *ctx)
{
    if (!ctx->ip6)
        return 0;
    return ctx->ip6->n_addrs < FAST_MAX_IP6_ADDRS ? ctx->ip6->n_addrs : FAST_MAX_IP6_ADDRS;
}

/* Every verdict must point inside the arena; the payload format must parse back to the
 * delivered payloads in order; IPv6 and group verdicts carry what they promise. */
static void check_verdicts(const struct fast_ctx *ctx, const struct fast_rx *rx,
                           uint32_t count, uint32_t arena_size, uint32_t outlen)
{
    char *fmt = malloc(outlen ? outlen : 1);
    uint32_t delivered = 0, delivered6 = 0, grouped = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t k = rx->kinds[i];
        CHECK(k >= FAST_KIND_DELIVER && k <= FAST_KIND_GROUP);
        if (k == FAST_KIND_DELIVER || k == FAST_KIND_DELIVER6 || k == FAST_KIND_GROUP) {
            delivered += k == FAST_KIND_DELIVER;
            delivered6 += k == FAST_KIND_DELIVER6;
            grouped += k == FAST_KIND_GROUP;
            CHECK(rx->reasons[i] <= FAST_CSUM_PSEUDO); /* how the checksum was accepted */
            CHECK(rx->payload_offs[i] <= arena_size);
            CHECK(rx->payload_lens[i] <= arena_size - rx->payload_offs[i]);
            CHECK(rx->payload_lens[i] <= 65535 - 8);
        } else if (k == FAST_KIND_SLOW) {
            CHECK(rx->payload_offs[i] <= arena_size);
        }
        /* the family marker: an index into the used part of the table, IPv6 only */
        if (k == FAST_KIND_DELIVER6)
            CHECK(rx->dst6[i] >= 1 && rx->dst6[i] <= ip6_entries(ctx) && rx->src_ips[i] == 0);
        else
            CHECK(rx->dst6[i] == 0);
        CHECK(k == FAST_KIND_GROUP ? rx->groups[i] >> 28 == 0xE : rx->groups[i] == 0);
        CHECK(k != FAST_KIND_DELIVER6 || ctx->ip6 != NULL);
    }
    CHECK(rx->delivered == delivered && rx->delivered6 == delivered6 && rx->grouped == grouped);
    CHECK(rx->delivered + rx->delivered6 + rx->grouped + rx->dropped + rx->slow == count);
    int used = fast_payload_format(rx, count, fmt, outlen);
    CHECK(used < 0 || (uint32_t)used <= outlen);
    if (used > 0) { /* walk "<skip>x<size>s" fields: they must cover the payloads in order */
        uint64_t cursor = 0;
        uint32_t i = 0;
        const char *p = fmt, *end = fmt + used;
        while (p < end) {
            uint64_t skip = strtoull(p, (char **)&p, 10);
            CHECK(*p++ == 'x');
            uint64_t size = strtoull(p, (char **)&p, 10);
            CHECK(*p++ == 's');
            while (rx->kinds[i] != FAST_KIND_DELIVER)
                i++;
            CHECK(cursor + skip == rx->payload_offs[i] && size == rx->payload_lens[i]);
            cursor += skip + size;
            i++;
        }
    }
    free(fmt);
}

/* Result arrays of exactly `cap` entries (src6: cap keys), so ASan sees any overrun. */
static struct fast_rx alloc_rx(uint32_t cap)
{
    struct fast_rx rx = {0};
    uint32_t n = cap ? cap : 1;
    rx.kinds = malloc(n);
    rx.reasons = malloc(sizeof(uint16_t) * n);
    rx.payload_offs = malloc(sizeof(uint32_t) * n);
    rx.payload_lens = malloc(sizeof(uint32_t) * n);
    rx.src_ips = malloc(sizeof(uint32_t) * n);
    rx.src_ports = malloc(sizeof(uint16_t) * n);
    rx.dst_ports = malloc(sizeof(uint16_t) * n);
    rx.src_keys = malloc(sizeof(uint64_t) * n);
    rx.groups = malloc(sizeof(uint32_t) * n);
    rx.dst6 = malloc(n);
    rx.src6 = malloc((size_t)FAST_SRC6_KEY_LEN * n);
    rx.capacity = cap;
    return rx;
}

static void free_rx(struct fast_rx *rx)
{
    free(rx->kinds), free(rx->reasons), free(rx->payload_offs), free(rx->payload_lens);
    free(rx->src_ips), free(rx->src_ports), free(rx->dst_ports), free(rx->src_keys);
    free(rx->groups), free(rx->dst6), free(rx->src6);
}

static void fuzz_classify(struct input *in, const struct fast_ctx *ctx)
{
    uint8_t mode = in_u8(in);
    uint32_t arena_size = in_range(in, 0, ARENA_MAX);
    uint32_t count = in_range(in, 0, MAX_FRAMES);
    /* exact-size allocations, so ASan sees a read one byte past any of them */
    uint8_t *arena = malloc(arena_size ? arena_size : 1);
    uint32_t *offs = malloc(sizeof(uint32_t) * (count ? count : 1));
    uint32_t *lens = malloc(sizeof(uint32_t) * (count ? count : 1));
    /* per-frame checksum flags, any byte value (a port might write garbage), or none */
    uint8_t *csum = mode & 8 ? malloc(count ? count : 1) : NULL;
    in_bytes(in, arena, arena_size);
    if (csum)
        in_bytes(in, csum, count);
    uint32_t pos = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (mode & 1) { /* raw offsets and lengths, as a broken port might write them */
            offs[i] = in_u32(in);
            lens[i] = in_u32(in);
        } else { /* packed frames of fuzzed lengths */
            uint32_t len = in_u16(in) % 1600;
            offs[i] = pos;
            lens[i] = len;
            pos = pos + len > arena_size ? pos : pos + len;
        }
    }
    uint32_t cap = count + (mode >> 1 & 1); /* sometimes one more than needed */
    struct fast_rx rx = alloc_rx(cap);
    CHECK(fast_classify(ctx, &rx, arena, arena_size, offs, lens, csum, count) == (int)count);
    CHECK(rx.csum_offloaded + rx.csum_pseudo <= rx.delivered + rx.delivered6);
    CHECK(fast_classify(ctx, &rx, arena, arena_size, offs, lens, csum, cap + 1) == -1);
    uint32_t outlen = mode & 4 ? in_u16(in) % (ANM_FORMAT_PER_FRAME * (count + 1))
                               : ANM_FORMAT_PER_FRAME * cap;
    check_verdicts(ctx, &rx, count, arena_size, outlen);
    check_checksum(in, arena, arena_size);
    free_rx(&rx);
    free(arena), free(offs), free(lens), free(csum);
}

/* Build one datagram from fuzzed fields and classify it on a host that owns the destination:
 * it must come back as DELIVER (GROUP for a group destination) with the payload, source
 * address and port it was built with. */
static void fuzz_roundtrip(struct input *in)
{
    struct fast_src src;
    in_bytes(in, src.mac, 6);
    src.mac[0] &= 0xFE; /* a unicast source, or the frame is (rightly) dropped */
    src.ip = in_u32(in);
    src.ttl = in_u8(in);
    src.vlan_tci = in_u16(in) % 4095; /* 0: untagged; else a tag with VID 1..4094 */
    uint16_t sport = in_u16(in), ident = in_u16(in);
    struct fast_dst dst;
    in_bytes(in, dst.mac, 6);
    dst.mac[0] &= 0xFE;
    dst.ip = in_u32(in);
    dst.port = in_u16(in);
    uint32_t plen = in_u16(in) % 2000;
    uint8_t *payload = malloc(plen ? plen : 1);
    in_bytes(in, payload, plen);
    uint32_t hdr = FAST_UDP_OVERHEAD + (src.vlan_tci ? FAST_VLAN_TAG_LEN : 0);
    uint32_t arena_size = hdr + plen, off = 0, len = 0, built;
    uint8_t *arena = malloc(arena_size);
    uint32_t index = 0;
    built = fast_udp_build_to(&src, sport, ident, 1, (const char *)payload, plen, &plen, &dst, 1,
                              &index, 1, arena, arena_size, &off, &len);
    CHECK(built == 1 && off == 0 && len == arena_size);
    uint32_t first = src.ip >> 24;
    int martian = first == 0 || first == 127 || src.ip >> 28 == 0xE || src.ip == 0xFFFFFFFFu ||
                  src.ip == dst.ip;
    if (!martian) {
        static struct fast_ctx ctx; /* 8 KiB of port bits: not on the stack */
        memset(&ctx, 0, sizeof ctx);
        memcpy(ctx.mac, dst.mac, 6);
        ctx.ip = dst.ip;
        ctx.broadcast = 0xFFFFFFFFu; /* a /32: no subnet broadcast of its own */
        ctx.mtu = 9000;
        ctx.vlan = src.vlan_tci;
        ctx.ports[dst.port >> 3] |= (uint8_t)(1u << (dst.port & 7));
        uint8_t kind, dst6, src6[FAST_SRC6_KEY_LEN];
        uint16_t reason, sp, dp;
        uint32_t po, pl, sip, group;
        uint64_t key;
        struct fast_rx rx = {.kinds = &kind, .reasons = &reason, .payload_offs = &po,
                             .payload_lens = &pl, .src_ips = &sip, .src_ports = &sp,
                             .dst_ports = &dp, .src_keys = &key, .groups = &group,
                             .dst6 = &dst6, .src6 = src6, .capacity = 1};
        CHECK(fast_classify(&ctx, &rx, arena, arena_size, &off, &len, NULL, 1) == 1);
        /* a group destination comes back as a group datagram, for the host to decide */
        int to_group = dst.ip >> 28 == 0xE;
        CHECK(kind == (to_group ? FAST_KIND_GROUP : FAST_KIND_DELIVER));
        CHECK(reason == FAST_CSUM_VERIFIED && group == (to_group ? dst.ip : 0) && dst6 == 0);
        CHECK(po == hdr && pl == plen && sip == src.ip && sp == sport &&
              dp == dst.port);
        CHECK(plen == 0 || memcmp(arena + po, payload, plen) == 0);
    }
    free(payload);
    free(arena);
}

/* ---- IPv6 UDP and IPv4 group UDP frames built from fuzzed fields ---- */

static void wr16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* The pseudo-header sum of `words` 16-bit words at a plus protocol and length. */
static uint64_t word_sum(const uint8_t *a, int words, uint32_t length)
{
    uint64_t s = 17 + (uint64_t)length;
    for (int i = 0; i < words; i++)
        s += (uint32_t)a[2 * i] << 8 | a[2 * i + 1];
    return s;
}

/* A UDP checksum field for the segment at u: good, the partial one, 0 or anything. */
static void put_udp_csum(struct input *in, uint8_t *u, uint32_t length, uint64_t pseudo)
{
    uint8_t how = in_u8(in) % 8;
    uint16_t good = ref_checksum(u, length, pseudo);
    uint64_t folded = pseudo;
    while (folded >> 16)
        folded = (folded & 0xFFFF) + (folded >> 16);
    uint32_t field = how < 5 ? (good ? good : 0xFFFF) : how == 5 ? (uint32_t)folded
                   : how == 6 ? 0 : in_u16(in);
    wr16(u + 6, field);
}

/* One frame at f for ctx (at most 70 + 1200 bytes): IPv6 UDP, or IPv4 UDP to a group.
 * Returns its length; *l3 is where the IP header starts. */
static uint32_t build_frame(struct input *in, const struct fast_ctx *ctx, uint8_t *f,
                            uint32_t *l3)
{
    int six = in_u8(in) & 1;
    uint32_t plen = in_u16(in) % 1200;
    memcpy(f, ctx->mac, 6);
    if (in_u8(in) % 8 == 0)
        in_bytes(in, f, 6); /* sometimes another destination MAC */
    in_bytes(in, f + 6, 6);
    f[6] &= 0xFE;
    uint32_t off = 12;
    if (ctx->vlan) {
        wr16(f + off, 0x8100);
        wr16(f + off + 2, ctx->vlan);
        off += 4;
    }
    wr16(f + off, six ? 0x86DD : 0x0800);
    uint8_t *ip = f + off + 2;
    *l3 = off + 2;
    uint8_t *u = ip + (six ? 40 : 20);
    uint32_t length = 8 + plen;
    wr16(u, in_u16(in));
    wr16(u + 2, in_u16(in));
    wr16(u + 4, length);
    wr16(u + 6, 0);
    in_bytes(in, u + 8, plen);
    uint32_t n = ctx->ip6 ? ip6_entries(ctx) : 0;
    if (six) {
        ip[0] = 0x60, ip[1] = in_u8(in), ip[2] = in_u8(in), ip[3] = in_u8(in);
        wr16(ip + 4, length);
        ip[6] = 17, ip[7] = in_u8(in);
        uint8_t pick = in_u8(in);
        in_bytes(in, ip + 8, 32);
        if (n && pick & 1) /* usually to one of our addresses */
            memcpy(ip + 24, ctx->ip6->addrs[(pick >> 1) % n], 16);
        if (n && pick % 16 == 15) /* sometimes from one (looped back) */
            memcpy(ip + 8, ctx->ip6->addrs[(pick >> 4) % n], 16);
        put_udp_csum(in, u, length, word_sum(ip + 8, 16, length));
    } else {
        ip[0] = 0x45, ip[1] = 0;
        wr16(ip + 2, 20 + length);
        wr16(ip + 4, in_u16(in));
        wr16(ip + 6, 0x4000);
        ip[8] = in_u8(in), ip[9] = 17;
        wr16(ip + 10, 0);
        in_bytes(in, ip + 12, 8);
        ip[16] = (uint8_t)(0xE0 | (ip[16] & 0x0F)); /* a group */
        wr16(ip + 10, ref_checksum(ip, 20, 0));
        put_udp_csum(in, u, length, word_sum(ip + 12, 4, length));
    }
    return (uint32_t)(u - f) + length;
}

/* Frames built and sometimes damaged, at packed offsets: whatever the verdicts, IPv6
 * deliveries name their frame's source and our destination, group ones their group. */
static void fuzz_built(struct input *in, const struct fast_ctx *ctx)
{
    uint32_t count = in_range(in, 1, 16), pos = 0;
    uint8_t *arena = malloc((size_t)count * 1300);
    uint32_t offs[16], lens[16], l3[16];
    uint8_t csum[16];
    in_bytes(in, csum, sizeof csum);
    for (uint32_t i = 0; i < count; i++) {
        offs[i] = pos;
        lens[i] = build_frame(in, ctx, arena + pos, &l3[i]);
        for (uint8_t k = in_u8(in) % 4; k; k--) /* damage */
            arena[pos + in_u16(in) % lens[i]] = in_u8(in);
        if (in_u8(in) % 8 == 0)
            lens[i] = in_u16(in) % (lens[i] + 1); /* truncated */
        pos += lens[i];
    }
    struct fast_rx rx = alloc_rx(count);
    const uint8_t *flags = in_u8(in) & 1 ? csum : NULL;
    CHECK(fast_classify(ctx, &rx, arena, pos, offs, lens, flags, count) == (int)count);
    check_verdicts(ctx, &rx, count, pos, ANM_FORMAT_PER_FRAME * count);
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *ip = arena + offs[i] + l3[i];
        if (rx.kinds[i] == FAST_KIND_DELIVER6) {
            const uint8_t *key = rx.src6 + (size_t)i * FAST_SRC6_KEY_LEN;
            CHECK(memcmp(key, ip + 8, 16) == 0 && memcmp(key + 16, ip + 40, 2) == 0);
            CHECK(memcmp(ctx->ip6->addrs[rx.dst6[i] - 1], ip + 24, 16) == 0);
            CHECK(rx.payload_offs[i] == offs[i] + l3[i] + 48);
            CHECK(rx.src_ports[i] == (ip[40] << 8 | ip[41]));
        } else if (rx.kinds[i] == FAST_KIND_GROUP) {
            CHECK(rx.groups[i] == ((uint32_t)ip[16] << 24 | (uint32_t)ip[17] << 16 |
                                   (uint32_t)ip[18] << 8 | ip[19]));
            CHECK(rx.payload_offs[i] >= offs[i] + l3[i] + 28);
        }
    }
    free_rx(&rx);
    free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    uint8_t what = in_u8(&in);
    if (what % 4 == 3) {
        fuzz_roundtrip(&in);
        return 0;
    }
    static struct fast_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    in_bytes(&in, ctx.mac, 6);
    ctx.ip = in_u32(&in);
    ctx.broadcast = in_u32(&in);
    ctx.mtu = in_u16(&in);
    ctx.accept_partial = what & 64;
    ctx.vlan = what & 16 ? in_u16(&in) % 4095 : 0;
    /* a few bound ports, and sometimes every port; some of them on the wildcard */
    memset(ctx.ports, what & 8 ? 0xFF : 0, sizeof ctx.ports);
    memset(ctx.wildcard, what & 32 ? 0xFF : 0, sizeof ctx.wildcard);
    for (int k = 0; k < 4; k++) {
        uint16_t port = in_u16(&in);
        ctx.ports[port >> 3] |= (uint8_t)(1u << (port & 7));
        if (k & 1)
            ctx.wildcard[port >> 3] |= (uint8_t)(1u << (port & 7));
    }
    /* sometimes an IPv6 side, its table claiming any length (only 16 entries exist) */
    static struct fast_ctx6 ctx6;
    memset(&ctx6, 0, sizeof ctx6);
    if (what & 128) {
        ctx6.n_addrs = in_u8(&in) % 20;
        for (uint32_t k = 0; k < FAST_MAX_IP6_ADDRS && k < ctx6.n_addrs; k++)
            in_bytes(&in, ctx6.addrs[k], 16);
        ctx.ip6 = &ctx6;
    }
    if (what % 4 == 2)
        fuzz_built(&in, &ctx);
    else
        fuzz_classify(&in, &ctx);
    return 0;
}
