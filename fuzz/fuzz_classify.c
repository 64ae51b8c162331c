/*
 * libFuzzer harness for the UDP fast path (fast.c, with batchfmt.h): fast_classify on arbitrary
 * frames at arbitrary arena offsets, fast_payload_format on its verdicts, the checksum
 * against a byte-by-byte RFC 1071 reference, and fast_udp_build_to whose
 * frames must classify back as the datagrams that were built.
 *
 * Input: a host context (MAC, IP, broadcast, MTU, VLAN, bound and wildcard ports, whether
 * the partial-checksum rule is on), a mode byte, then frames and, in some modes, a checksum
 * flag byte per frame.
 */
#include <stdio.h>
#include <stdlib.h>

#include "batchfmt.h"
#include "fast.h"
#include "fuzz_input.h"

#define MAX_FRAMES 64
#define ARENA_MAX 16384

/* RFC 1071 the slow way: network-order 16-bit words, odd byte padded with zero. */
static uint16_t ref_checksum(const uint8_t *p, size_t n, uint64_t initial)
{
    uint64_t s = initial;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xFFFF) + (s >> 16);
    return (uint16_t)~s;
}

static void check_checksum(struct input *in, const uint8_t *data, size_t n)
{
    uint64_t initial = in_u32(in); /* callers pass pseudo-header sums well under 2^32 */
    size_t start = n ? in_u8(in) % n : 0;
    uint16_t got = fast_inet_checksum(data + start, n - start, initial);
    uint16_t want = ref_checksum(data + start, n - start, initial);
    CHECK(got == want);
}

/* Every verdict must point inside the arena; the payload format must parse back to the
 * delivered payloads in order. */
static void check_verdicts(const struct fast_rx *rx, uint32_t count, uint32_t arena_size,
                           uint32_t outlen)
{
    char *fmt = malloc(outlen ? outlen : 1);
    uint32_t delivered = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t k = rx->kinds[i];
        CHECK(k == FAST_KIND_DELIVER || k == FAST_KIND_DROP || k == FAST_KIND_SLOW);
        if (k == FAST_KIND_DELIVER) {
            delivered++;
            CHECK(rx->reasons[i] <= FAST_CSUM_PSEUDO); /* how the checksum was accepted */
            CHECK(rx->payload_offs[i] <= arena_size);
            CHECK(rx->payload_lens[i] <= arena_size - rx->payload_offs[i]);
        } else if (k == FAST_KIND_SLOW) {
            CHECK(rx->payload_offs[i] <= arena_size);
        }
    }
    CHECK(rx->delivered == delivered);
    CHECK(rx->delivered + rx->dropped + rx->slow == count);
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
    struct fast_rx rx = {0};
    uint32_t cap = count + (mode >> 1 & 1); /* sometimes one more than needed */
    rx.kinds = malloc(cap + 1);
    rx.reasons = malloc(sizeof(uint16_t) * (cap + 1));
    rx.payload_offs = malloc(sizeof(uint32_t) * (cap + 1));
    rx.payload_lens = malloc(sizeof(uint32_t) * (cap + 1));
    rx.src_ips = malloc(sizeof(uint32_t) * (cap + 1));
    rx.src_ports = malloc(sizeof(uint16_t) * (cap + 1));
    rx.dst_ports = malloc(sizeof(uint16_t) * (cap + 1));
    rx.src_keys = malloc(sizeof(uint64_t) * (cap + 1));
    rx.capacity = cap;
    CHECK(fast_classify(ctx, &rx, arena, arena_size, offs, lens, csum, count) == (int)count);
    CHECK(rx.csum_offloaded + rx.csum_pseudo <= rx.delivered);
    CHECK(fast_classify(ctx, &rx, arena, arena_size, offs, lens, csum, cap + 1) == -1);
    uint32_t outlen = mode & 4 ? in_u16(in) % (ANM_FORMAT_PER_FRAME * (count + 1))
                               : ANM_FORMAT_PER_FRAME * cap;
    check_verdicts(&rx, count, arena_size, outlen);
    check_checksum(in, arena, arena_size);
    free(rx.kinds), free(rx.reasons), free(rx.payload_offs), free(rx.payload_lens);
    free(rx.src_ips), free(rx.src_ports), free(rx.dst_ports), free(rx.src_keys);
    free(arena), free(offs), free(lens), free(csum);
}

/* Build one datagram from fuzzed fields and classify it on a host that owns the destination:
 * it must come back as DELIVER with the payload, source address and port it was built with. */
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
        uint8_t kind;
        uint16_t reason, sp, dp;
        uint32_t po, pl, sip;
        uint64_t key;
        struct fast_rx rx = {&kind, &reason, &po, &pl, &sip, &sp, &dp, &key, 1, 0, 0, 0, 0, 0};
        CHECK(fast_classify(&ctx, &rx, arena, arena_size, &off, &len, NULL, 1) == 1);
        CHECK(kind == FAST_KIND_DELIVER && reason == FAST_CSUM_VERIFIED);
        CHECK(po == hdr && pl == plen && sip == src.ip && sp == sport &&
              dp == dst.port);
        CHECK(plen == 0 || memcmp(arena + po, payload, plen) == 0);
    }
    free(payload);
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
    fuzz_classify(&in, &ctx);
    return 0;
}
