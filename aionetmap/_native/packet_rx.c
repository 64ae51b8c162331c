/* AF_PACKET backend, part 3: the TPACKET_V2 RX ring reader. The ring is kernel memory; every
 * header field is checked against the frame it lives in before it becomes an offset. */
#define _GNU_SOURCE
#include "anm_common.h"
#include "packet_int.h"

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <string.h>
#include <sys/socket.h>

#ifndef TP_STATUS_CSUM_VALID /* Linux 3.19; older headers lack the name, not the meaning */
#define TP_STATUS_CSUM_VALID (1 << 7)
#endif

/* ---- RX --------------------------------------------------------------------------- */

static struct tpacket2_hdr *rx_frame(const pkt_port *p, uint32_t i)
{
    size_t block = i / p->frames_per_block, slot = i % p->frames_per_block;

    return (struct tpacket2_hdr *)(p->ring + block * p->block_size + slot * p->frame_size);
}

int pkt_rx_ready(const pkt_port *p)
{
    uint32_t status = LOAD_ACQ(rx_frame(p, p->rx_head)->tp_status);

    return (status & TP_STATUS_USER) != 0;
}

static void put_be16(uint8_t *dst, uint16_t v)
{
    dst[0] = (uint8_t)(v >> 8);
    dst[1] = (uint8_t)v;
}

/* What the kernel says of a frame's checksum, as a PKT_RXCSUM_* flag (counted). */
static uint8_t csum_flag(pkt_port *p, uint32_t status)
{
    if (status & TP_STATUS_CSUMNOTREADY) {
        p->st.rx_csum_not_ready++;
        return PKT_RXCSUM_PARTIAL;
    }
    if (status & TP_STATUS_CSUM_VALID) {
        p->st.rx_csum_valid++;
        return PKT_RXCSUM_VALID;
    }
    return PKT_RXCSUM_UNKNOWN;
}

/* Copy one ring frame to dst. Returns its length, 0 if it was dropped (counted), or -1 if
 * it does not fit in the room left (it stays in the ring for the next call). */
static int64_t take_frame(pkt_port *p, const struct tpacket2_hdr *h, uint32_t status,
                          uint8_t *dst, uint32_t room, uint32_t arena_size)
{
    const uint8_t *raw = (const uint8_t *)h;
    const struct sockaddr_ll *sll;
    /* Each field read once: a second read after the check could see another value. */
    uint32_t mac = LOAD(h->tp_mac), snap = LOAD(h->tp_snaplen), len = LOAD(h->tp_len), tag, out;

    /* The header is written by the kernel, but nothing read from shared memory is used as
     * an offset before it is checked against the frame it lives in. */
    if (mac < TPACKET_ALIGN(sizeof(*h)) + sizeof(*sll) || mac > p->frame_size ||
        snap > p->frame_size - mac || snap < ETH_HLEN_) {
        p->st.rx_dropped_malformed++;
        return 0;
    }
    if ((status & TP_STATUS_COPY) || len > snap) {
        p->st.rx_dropped_truncated++;
        return 0;
    }
    sll = (const struct sockaddr_ll *)(raw + TPACKET_ALIGN(sizeof(*h)));
    if (LOAD(sll->sll_pkttype) == PACKET_OUTGOING) {
        p->st.rx_dropped_outgoing++;
        return 0;
    }
    /* The device may have lifted the 802.1Q tag into metadata: put it back, so callers
     * see the frame as it was on the wire. */
    tag = (status & TP_STATUS_VLAN_VALID) ? VLAN_HLEN_ : 0;
    out = snap + tag;
    if (out > arena_size) {
        p->st.rx_dropped_oversize++;
        return 0;
    }
    if (out > room)
        return -1;
    if (tag) {
        uint16_t tpid = LOAD(h->tp_vlan_tpid);
        if (!(status & TP_STATUS_VLAN_TPID_VALID) || tpid == 0)
            tpid = ETH_P_8021Q;
        memcpy(dst, raw + mac, 12);
        put_be16(dst + 12, tpid);
        put_be16(dst + 14, LOAD(h->tp_vlan_tci));
        memcpy(dst + 16, raw + mac + 12, snap - 12);
    } else {
        memcpy(dst, raw + mac, snap);
    }
    p->st.rx_frames++;
    p->st.rx_bytes += out;
    return out;
}

int pkt_rx_burst(pkt_port *p, uint8_t *arena, uint32_t arena_size, uint32_t *offs,
                 uint32_t *lens, uint8_t *csum, uint32_t max)
{
    uint32_t n = 0, pos = 0;

    /* At most one lap: dropped frames cost no budget, so a ring the kernel refills as fast
     * as we drop (a flood of truncated or oversized frames) would otherwise hold us here. */
    for (uint32_t seen = 0; n < max && seen < p->frame_nr; seen++) {
        struct tpacket2_hdr *h = rx_frame(p, p->rx_head);
        uint32_t status = LOAD_ACQ(h->tp_status);
        int64_t len;

        if (!(status & TP_STATUS_USER))
            break;
        len = take_frame(p, h, status, arena + pos, arena_size - pos, arena_size);
        if (len < 0)
            break;
        if (len > 0) {
            offs[n] = pos;
            lens[n] = (uint32_t)len;
            if (csum)
                csum[n] = csum_flag(p, status);
            pos += (uint32_t)len;
            n++;
        }
        /* Hand the frame back only after we are done reading it. */
        STORE_REL(h->tp_status, TP_STATUS_KERNEL);
        p->rx_head = p->rx_head + 1 == p->frame_nr ? 0 : p->rx_head + 1;
    }
    return (int)n;
}
