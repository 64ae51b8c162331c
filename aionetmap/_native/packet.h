/* AF_PACKET backend: a TPACKET_V2 mmap RX ring read in batches, batched TX, and the
 * network-namespace helpers the backend and the test fixtures need.
 *
 * Every function returns a negative errno on failure (never sets a Python exception);
 * the Python wrapper (aionetmap/ports/packet.py) turns it into a clear OSError.
 */
#ifndef AIONETMAP_PACKET_H
#define AIONETMAP_PACKET_H

#include <stddef.h>
#include <stdint.h>

/* What Python sees, between the markers: the cffi builder reads it (header_cdef). */
/* cffi: begin */

/* Which step of pkt_netns_socket / pkt_port_new failed, so errors can name the cause. */
enum {
    PKT_STAGE_NONE = 0,
    PKT_STAGE_SELF_NS = 1,    /* opening our own /proc/thread-self/ns/net */
    PKT_STAGE_OPEN_NS = 2,    /* opening the target namespace file */
    PKT_STAGE_SETNS = 3,      /* switching into the target namespace */
    PKT_STAGE_SOCKET = 4,     /* socket(2) */
    PKT_STAGE_RESTORE = 5,    /* switching back: the thread is in the wrong namespace */
    PKT_STAGE_VERSION = 6,    /* PACKET_VERSION */
    PKT_STAGE_RX_RING = 7,    /* PACKET_RX_RING */
    PKT_STAGE_MMAP = 8,
    PKT_STAGE_OPTIONS = 9,    /* PACKET_IGNORE_OUTGOING / PACKET_QDISC_BYPASS / buffers */
    PKT_STAGE_BIND = 10,
    PKT_STAGE_ALLOC = 11,     /* our own memory */
};

typedef struct {
    int ifindex;
    int mtu;
    int hatype;            /* ARPHRD_* of the interface */
    uint8_t mac[6];
} pkt_ifinfo;

typedef struct {
    uint32_t rx_frames;    /* wanted RX ring frames (rounded up to whole blocks) */
    uint32_t frame_size;   /* RX ring frame size; 0: derived from the MTU */
    uint32_t tx_slots;     /* frames the TX staging area holds */
    uint32_t tx_max;       /* largest frame accepted for TX */
    int qdisc_bypass;
    int sndbuf;            /* 0: leave the kernel default */
} pkt_config;

typedef struct {
    uint64_t rx_frames;
    uint64_t rx_bytes;
    uint64_t tx_frames;
    uint64_t tx_bytes;
    uint64_t rx_dropped_outgoing;    /* our own frames looped back (kernel < 4.20) */
    uint64_t rx_dropped_truncated;   /* frame longer than the ring frame (snaplen < len) */
    uint64_t rx_dropped_malformed;   /* ring header fields out of bounds */
    uint64_t rx_dropped_oversize;    /* larger than the caller's whole arena */
    uint64_t rx_csum_not_ready;      /* delivered with a partial (offloaded) checksum */
    uint64_t rx_csum_valid;          /* delivered with a checksum the kernel verified */
    uint64_t rx_kernel_drops;        /* PACKET_STATISTICS tp_drops, accumulated */
    uint64_t tx_dropped_nobufs;      /* the device queue refused the frame (ENOBUFS) */
    uint64_t tx_dropped_error;       /* dropped with the staging area after a hard error */
} pkt_stats;

/* pkt_rx_burst's per-frame checksum flags (stack.classify.RxChecksum, FAST_RXCSUM_*). */
enum {
    PKT_RXCSUM_UNKNOWN = 0,
    PKT_RXCSUM_PARTIAL = 1, /* TP_STATUS_CSUMNOTREADY: a local sender left it to offload */
    PKT_RXCSUM_VALID = 2,   /* TP_STATUS_CSUM_VALID: the kernel or NIC verified it */
};

typedef struct pkt_port pkt_port;

int pkt_netns_socket(const char *nspath, int domain, int type, int protocol, int *stage);
int pkt_ifinfo_get(int fd, const char *ifname, pkt_ifinfo *out);
int pkt_ethtool_set(int fd, const char *ifname, uint32_t cmd, uint32_t value);
int pkt_ethtool_get(int fd, const char *ifname, uint32_t cmd, uint32_t *value);
int pkt_ethtool_driver(int fd, const char *ifname, char *out, size_t outlen);

pkt_port *pkt_port_new(int fd, const pkt_ifinfo *ifi, const pkt_config *cfg, int *err, int *stage);
void pkt_port_free(pkt_port *p);
int pkt_port_fd(const pkt_port *p);
uint32_t pkt_rx_frame_size(const pkt_port *p);
uint32_t pkt_rx_ring_frames(const pkt_port *p);
pkt_stats *pkt_port_stats(pkt_port *p);

/* Move up to max frames from the RX ring into the arena (frame n at offs[n], lens[n]);
 * csum, unless NULL, gets a PKT_RXCSUM_* flag per frame. Returns the number of frames. */
int pkt_rx_burst(pkt_port *p, uint8_t *arena, uint32_t arena_size, uint32_t *offs,
                 uint32_t *lens, uint8_t *csum, uint32_t max);
int pkt_rx_ready(const pkt_port *p);

int pkt_tx_queue(pkt_port *p, const uint8_t *arena, uint32_t arena_size, const uint32_t *offs,
                 const uint32_t *lens, uint32_t count);
uint32_t pkt_tx_space(const pkt_port *p);
uint32_t pkt_tx_pending(const pkt_port *p);
int pkt_tx_flush(pkt_port *p);
int pkt_kernel_stats(pkt_port *p);

/* cffi: end */

#endif
