/*
 * libFuzzer harness for the TPACKET_V2 ring reader (packet_rx.c): pkt_rx_burst and
 * pkt_rx_ready over a ring whose frame headers (status, mac offset, snaplen, len, VLAN
 * fields, sockaddr_ll) are all fuzzed, as if the kernel memory held anything at all.
 * The ring and the arena are exact-size allocations, so AddressSanitizer flags any read
 * outside the frame a header belongs to being turned into a read outside the ring.
 */
#include <linux/if_packet.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_input.h"
#include "packet_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct pkt_port p;
    memset(&p, 0, sizeof p);
    p.fd = -1;
    p.frame_size = 256u << in_u8(&in) % 5; /* 256 .. 4096, a power of two as setup makes */
    p.block_size = p.frame_size * (1u << in_u8(&in) % 3);
    p.frames_per_block = p.block_size / p.frame_size;
    uint32_t blocks = in_range(&in, 1, 3);
    p.frame_nr = blocks * p.frames_per_block;
    p.ring_len = (size_t)blocks * p.block_size;
    p.rx_head = in_u8(&in) % p.frame_nr;
    p.ring = malloc(p.ring_len);
    /* Each frame: a header that is mostly plausible (fields near their real ranges) or
     * entirely fuzzed, then fuzzed bytes. */
    for (uint32_t i = 0; i < p.frame_nr; i++) {
        uint8_t *f = p.ring + (size_t)(i / p.frames_per_block) * p.block_size +
                     (size_t)(i % p.frames_per_block) * p.frame_size;
        in_bytes(&in, f, p.frame_size);
        struct tpacket2_hdr *h = (struct tpacket2_hdr *)f;
        uint8_t how = in_u8(&in);
        if (how & 1) {
            h->tp_status = TP_STATUS_USER | (h->tp_status & ~(uint32_t)TP_STATUS_USER & 0xFF);
            h->tp_mac = in_u16(&in) % (p.frame_size + 8);
            h->tp_snaplen = in_u16(&in) % (p.frame_size + 8);
            h->tp_len = how & 2 ? h->tp_snaplen : in_u16(&in);
        }
    }
    uint32_t arena_size = in_u16(&in);
    uint32_t max = in_range(&in, 1, 2 * p.frame_nr);
    uint8_t *arena = malloc(arena_size ? arena_size : 1);
    uint32_t *offs = malloc(sizeof(uint32_t) * max), *lens = malloc(sizeof(uint32_t) * max);
    uint8_t *csum = malloc(max); /* exact size: ASan sees a flag written past max */
    for (int round = 0; round < 2; round++) {
        pkt_rx_ready(&p);
        int got = pkt_rx_burst(&p, arena, arena_size, offs, lens, round ? csum : NULL, max);
        CHECK(got >= 0 && (uint32_t)got <= max);
        uint64_t end = 0;
        for (int i = 0; i < got; i++) { /* packed in order inside the arena */
            CHECK(!round || csum[i] <= PKT_RXCSUM_VALID);
            CHECK(offs[i] == end && lens[i] >= 14 && lens[i] <= arena_size - end);
            end += lens[i];
        }
        CHECK(p.rx_head < p.frame_nr);
    }
    free(arena), free(offs), free(lens), free(csum), free(p.ring);
    return 0;
}
