/*
 * The software pipe: two endpoints over one shared-memory region laid out the way netmap
 * lays out its memory, and a user-space "kernel" that moves packets between them the way
 * netmap pipes do (zero-copy, by exchanging buffer indices).
 *
 * Region layout (every offset is computed by anm_pipe_layout from slots and buf_size, and
 * recomputed and checked by every process that attaches; nothing cross-process is a pointer):
 *
 *   [control area][slot shadows][netmap_if a][netmap_if b][4 rings][buffer pool]
 *
 * Rings are numbered a.tx = 0, a.rx = 1, b.tx = 2, b.rx = 3. Each netmap_if lists one TX
 * and one RX ring plus one unbound (ring_ofs 0) host ring per direction, as the kernel does.
 * Buffers 0 and 1 are reserved; ring k slot s starts with buffer 2 + k * slots + s.
 *
 * The control area holds what netmap keeps in kernel memory (hwcur/hwtail, the tail last
 * shown to the user, end states, readiness flags, counters) plus a "shadow" copy of every
 * slot's buffer index, used to repair slots a user scribbled over.
 */
#ifndef AIONETMAP_PIPE_H
#define AIONETMAP_PIPE_H

#include <stddef.h>
#include <stdint.h>

#include "netmap_abi.h"
#include "ring.h"

/* What Python sees, between the markers: the cffi builder reads it (header_cdef). */
/* cffi: begin */

#define ANM_PIPE_MIN_SLOTS 4
#define ANM_PIPE_MAX_SLOTS 65536
#define ANM_PIPE_MIN_BUF 64
#define ANM_PIPE_MAX_BUF 65472 /* a multiple of 64 that a 16-bit slot len can fill */

/* End states (anm_pipe_state) */
#define ANM_END_FREE 0     /* never opened */
#define ANM_END_OPEN 1     /* attached by a process */
#define ANM_END_CLOSED 2   /* closed: the peer drops what it sends */
#define ANM_END_DETACHED 3 /* handed to another process that has not attached yet */

/* Per-end counters, kept in the control area (they survive a reopen). Each is written only
 * by the process that owns the end. */
struct anm_pipe_counters {
    uint64_t ring_resets;              /* head/cur out of order: ring reinitialised */
    uint64_t tx_dropped_peer_closed;   /* frames sent after the peer closed */
    uint64_t tx_dropped_bad_slot;      /* published TX slot with a bad buf_idx or len */
    uint64_t tx_dropped_too_many_frags; /* TX chain longer than netmap allows */
    uint64_t slots_repaired;           /* slot buf_idx restored from the shadow copy */
    uint64_t tx_waits;                 /* TX found the peer's RX ring full */
    uint64_t notify_writes;            /* writes to the peer's notification fd */
    uint64_t corrupt;                  /* control state out of range (shared memory damaged) */
};

/* The process-private handle of one attached end. */
struct anm_pipe {
    uint8_t *base;
    size_t size;
    void *ctrl; /* struct anm_pipe_ctrl, opaque outside pipe.c */
    unsigned end;
    uint32_t num_slots;
    uint32_t buf_size;
    uint32_t nbufs;
    uint64_t nifp_off;
    struct netmap_ring *tx, *rx, *peer_rx;
    uint32_t *tx_shadow, *rx_shadow, *peer_rx_shadow;
    int own_fd;  /* this end's notification fd (eventfd or FIFO), in this process */
    int peer_fd; /* the peer's */
    uint32_t seen_peer_state;
    uint32_t pad0;
    uint64_t seen_tx_bad_buf;
};

/* Bytes a region for these parameters needs, or 0 if they are out of range. */
size_t anm_pipe_region_size(uint32_t slots, uint32_t buf_size);

/* Lay out a fresh pipe in a zeroed region of anm_pipe_region_size bytes. 0 or -errno. */
int anm_pipe_format(uint8_t *base, size_t size, uint32_t slots, uint32_t buf_size, char *err,
                    size_t errlen);

/* Validate a formatted region and fill p for end 0 (a) or 1 (b). Claims nothing.
 * Returns 0 or -errno with a message. */
int anm_pipe_attach(struct anm_pipe *p, uint8_t *base, size_t size, unsigned end, int own_fd,
                    int peer_fd, char *err, size_t errlen);

/* Atomically move this end from state `from` to OPEN, recording pid. 1 on success. */
int anm_pipe_claim(struct anm_pipe *p, uint32_t from, int32_t pid);
/* Set this end's state (CLOSED notifies the peer). */
void anm_pipe_set_state(struct anm_pipe *p, uint32_t state);
uint32_t anm_pipe_state(const struct anm_pipe *p, unsigned end);
int32_t anm_pipe_owner(const struct anm_pipe *p, unsigned end);

/* Kernel side of NIOCTXSYNC: push complete packets to the peer. r (may be NULL) is the
 * client state of this end, used to notice a TX burst that stopped at a damaged slot.
 * Returns 1 if the ring had to be reset, 0 if not, -1 if the control area is damaged. */
int anm_pipe_txsync(struct anm_pipe *p, struct anm_rings *r);
/* Kernel side of NIOCRXSYNC: release [hwcur, head) and expose new packets. Same returns. */
int anm_pipe_rxsync(struct anm_pipe *p);

/* What one readiness callback does: consume the fd's notifications, rxsync, txsync if
 * frames wait to be sent, RX burst, rxsync again to hand the slots back at once, then
 * re-arm the fd if frames still wait. Returns the frames received, or -1 if the control
 * area is damaged. */
int anm_pipe_recv(struct anm_pipe *p, struct anm_rings *r, uint8_t *arena, size_t arena_len,
                  uint32_t *offs, uint32_t *lens, unsigned max);

/* anm_pipe_recv with anm_forward in place of the RX burst: move up to max frames from this
 * end's RX ring to dst's TX rings (buffer swap when dst shares this region, one copy
 * otherwise), with the same sync and readiness steps. dst is not synced: its owner flushes.
 * Frames dst has no room for stay in the RX ring (and the fd stays readable). Returns the
 * frames forwarded, or -1 if the control area is damaged. */
int anm_pipe_forward(struct anm_pipe *p, struct anm_rings *r, struct anm_rings *dst,
                     unsigned max);

/* Drain this end's fd, clear its armed flag, and re-arm it if it is still ready. */
void anm_pipe_clear(struct anm_pipe *p);
/* 1 if this end has something to report: frames not yet consumed, or a peer state change. */
int anm_pipe_ready(struct anm_pipe *p);

/* Counters of end `end`, in the control area. */
const struct anm_pipe_counters *anm_pipe_counters(const struct anm_pipe *p, unsigned end);

/* cffi: end */

#endif /* AIONETMAP_PIPE_H */
