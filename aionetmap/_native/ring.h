/*
 * The netmap client side of ring handling: everything a program does with the rings of ONE
 * netmap_if inside a mapped region, written once for both the kernel port and the software
 * pipe (which lays its memory out the same way).
 *
 * Trust model: the region is shared with someone we do not control (the kernel, another
 * process, or a buggy user of the same mapping). Ring geometry (slot count, buffer size,
 * buffer pool offset) is read and validated once, at init, and kept in private memory.
 * Everything read later (head, cur, tail, buf_idx, len, flags) is read once into a local and
 * range-checked before it is used to compute an address; a bad value is counted and the
 * slot, frame or ring is skipped. Nothing read from the region can make us touch memory
 * outside it.
 */
#ifndef AIONETMAP_RING_H
#define AIONETMAP_RING_H

#include <stddef.h>
#include <stdint.h>

#include "netmap_abi.h"

/* What Python sees, between the markers: the cffi builder reads it (header_cdef). */
/* cffi: begin */

/* Bound rings tracked per direction; a multi-queue NIC rarely exceeds 64. */
#define ANM_MAX_RINGS 128

/* anm_rings_init flags */
#define ANM_RINGS_FRAGMENTS 0x1 /* TX may split a frame over an NS_MOREFRAG chain */

/* Counters of one anm_rings; all only ever increase. */
struct anm_ring_stats {
    uint64_t rx_frames;
    uint64_t rx_bytes;
    uint64_t tx_frames;
    uint64_t tx_bytes;
    uint64_t rx_dropped_bad_buf;        /* a slot's buf_idx is outside the buffer pool */
    uint64_t rx_dropped_bad_len;        /* a slot's len exceeds the buffer size */
    uint64_t rx_dropped_too_many_frags; /* NS_MOREFRAG chain longer than NETMAP_MAX_FRAGS */
    uint64_t rx_dropped_too_big;        /* frame larger than the whole receive arena */
    uint64_t rx_bad_ring;               /* head/tail out of range: ring skipped for a call */
    uint64_t tx_bad_ring;               /* same on a TX ring */
    uint64_t tx_bad_buf;                /* free TX slot with a bad buf_idx: burst stopped */
    uint64_t tx_refused;                /* frame too large for the port, or outside the arena */
    uint64_t fwd_swapped;               /* frames forwarded by swapping buffer indices */
    uint64_t fwd_copied;                /* frames forwarded by copying */
    uint64_t fwd_dropped;               /* frames the destination cannot carry */
};

/* One bound ring, with its geometry copied out of shared memory at init. */
struct anm_ring {
    struct netmap_ring *ring;
    uint8_t *bufs;      /* buffer 0 of the pool this ring uses (ring + buf_ofs) */
    uint32_t num_slots;
    uint32_t buf_size;
    uint32_t frag_cap;  /* bytes one slot can carry: min(buf_size, 65535) (len is 16 bit) */
    uint32_t nbufs;     /* valid buffer indices are [2, nbufs) */
    uint32_t skip_chain; /* RX: still discarding the rest of an over-long chain */
    uint32_t pad0;
};

struct anm_rings {
    uint8_t *base;
    size_t size;
    int flags;
    unsigned n_tx;
    unsigned n_rx;
    unsigned rx_next; /* round-robin start for the next RX burst */
    unsigned tx_next; /* TX ring that last had room */
    uint32_t tx_slots; /* of the first bound ring in each direction (0 if none) */
    uint32_t rx_slots;
    uint32_t buf_size;
    uint32_t max_frame; /* largest frame a TX burst accepts */
    struct anm_ring_stats stats;
    struct anm_ring tx[ANM_MAX_RINGS];
    struct anm_ring rx[ANM_MAX_RINGS];
};

/* Find and validate the rings of the netmap_if at base + nifp_off. Returns 0, or a negative
 * errno with a message in err. */
int anm_rings_init(struct anm_rings *r, uint8_t *base, size_t size, uint64_t nifp_off,
                   int flags, char *err, size_t errlen);

/* Copy up to max complete frames from the RX rings into arena (frames packed from offset 0,
 * frame i at offs[i], lens[i] bytes) and release their slots. Returns the frame count. */
unsigned anm_rx_burst(struct anm_rings *r, uint8_t *arena, size_t arena_len, uint32_t *offs,
                      uint32_t *lens, unsigned max);

/* Queue frames into free TX slots, in order, and publish them (head = cur). Frame i is
 * lens[i] bytes at data + offs[i]; with offs NULL the frames are packed back to back from
 * offset 0. Stops at the first frame that does not fit (or is refused). Returns frames
 * queued. */
unsigned anm_tx_burst(struct anm_rings *r, const char *data, size_t data_len,
                      const uint32_t *offs, const uint32_t *lens, unsigned n);

/* anm_tx_packed for Python's send(): frames packed back to back in data. Before queuing
 * anything it checks that the lengths add up to data_len (else ANM_TX_MISMATCH) and that
 * none exceeds max_frame (else ANM_TX_OVERSIZE); then as anm_tx_burst. */
#define ANM_TX_MISMATCH (-1)
#define ANM_TX_OVERSIZE (-2)
int anm_tx_packed(struct anm_rings *r, const char *data, size_t data_len, const uint32_t *lens,
                  unsigned n);

/* anm_tx_burst for Python's send_batch(): before queuing anything it checks that no frame
 * exceeds max_frame (else ANM_TX_OVERSIZE), so the caller need not look at every length. */
int anm_tx_batch(struct anm_rings *r, const char *data, size_t data_len, const uint32_t *offs,
                 const uint32_t *lens, unsigned n);

/* Free TX slots over all TX rings. */
unsigned anm_tx_space(const struct anm_rings *r);
/* Complete frames visible between head and tail over all RX rings. */
unsigned anm_rx_pending(const struct anm_rings *r);
/* 1 if some TX ring still holds slots the other side has not taken (head != tail + 1). */
int anm_tx_pending(const struct anm_rings *r);
/* How many such slots over all TX rings (rings whose head or tail is out of range count 0). */
unsigned anm_tx_in_flight(const struct anm_rings *r);

/* 1 if every RX ring of src and TX ring of dst use the same buffer pool, so buffer indices
 * can be exchanged between them. */
int anm_rings_same_pool(const struct anm_rings *src, const struct anm_rings *dst);

/* Move up to max frames from src's RX rings to dst's TX rings: by swapping buffer indices
 * when both use the same pool, by copying otherwise. Returns frames forwarded. */
unsigned anm_forward(struct anm_rings *src, struct anm_rings *dst, unsigned max);

/* cffi: end */

#endif /* AIONETMAP_RING_H */
