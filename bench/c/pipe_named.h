/*
 * Open one end of a named software pipe from C, the way aionetmap.ports.pipe.PipePort.open
 * does from Python: the same files (/dev/shm/aionetmap-pipe.NAME and one FIFO per end for
 * the notifications), the same lock, the same claim of the end. The ring layout and the
 * sync code are the project's own (aionetmap/_native/pipe_*.c and ring_*.c, compiled in).
 */
#ifndef BENCH_PIPE_NAMED_H
#define BENCH_PIPE_NAMED_H

#include "pipe.h"
#include "ring.h"

struct named_pipe {
    struct anm_pipe p;
    struct anm_rings r;
    char path[512];
    int mem_fd, own_fd, peer_fd;
    unsigned end;
};

/* Open end 0 ("a") or 1 ("b") of pipe `name`, creating it (slots, buf_size) if this is the
 * first opener. Fatal on error. */
void named_pipe_open(struct named_pipe *np, const char *name, unsigned end, uint32_t slots,
                     uint32_t buf_size);
/* Flush, mark the end closed (waking the peer) and remove the files if the peer is gone. */
void named_pipe_close(struct named_pipe *np);
/* True once the other end has closed. */
int named_pipe_peer_closed(const struct named_pipe *np);
/* Sleep until our fd is readable (frames, TX room, peer state) or timeout_ms passes. */
void named_pipe_wait(struct named_pipe *np, int timeout_ms);
/* The same with a timeout in microseconds. */
void named_pipe_wait_us(struct named_pipe *np, int64_t timeout_us);

#endif /* BENCH_PIPE_NAMED_H */
