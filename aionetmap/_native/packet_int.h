/* Internals shared by the AF_PACKET backend's files (packet_sys.c, packet_open.c,
 * packet_rx.c, packet_tx.c); packet.h is the interface. */
#ifndef AIONETMAP_PACKET_INT_H
#define AIONETMAP_PACKET_INT_H

#include <stddef.h>
#include <stdint.h>

#include "packet.h"

#define PKT_BLOCK_MIN (1u << 16)  /* ring block size floor: 32 frames of 2 KiB */
#define PKT_MMSG_MAX 1024u        /* UIO_MAXIOV: the most sendmmsg takes in one call */
#define ETH_HLEN_ 14u
#define VLAN_HLEN_ 4u

struct pkt_port {
    int fd;
    uint8_t *ring;          /* RX ring mapping */
    size_t ring_len;
    uint32_t block_size, frame_size, frames_per_block, frame_nr;
    uint32_t rx_head;       /* next frame to look at */
    /* TX staging: tx_slots frames of tx_max bytes, used as a circular queue */
    uint8_t *tx_data;
    uint32_t *tx_lens;
    struct mmsghdr *tx_msgs;
    struct iovec *tx_iov;
    uint32_t tx_slots, tx_max, tx_head, tx_count;
    pkt_stats st;
};

#endif /* AIONETMAP_PACKET_INT_H */
