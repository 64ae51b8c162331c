/* Named software pipe ends from C: see pipe_named.h. */
#define _GNU_SOURCE
#include "pipe_named.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "benchlib.h"

#define SHM_PREFIX "/dev/shm/aionetmap-pipe."

static int open_fifo(const char *path)
{
    if (mkfifo(path, 0600) < 0 && errno != EEXIST)
        die("mkfifo %s: %s", path, strerror(errno));
    /* O_RDWR: never blocks, and stays usable whoever else has the FIFO open */
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))
        die("%s: not a usable FIFO: %s", path, strerror(errno));
    return fd;
}

/* Open and lock the memory file; retry if its last user removed it between the two. */
static int lock_file(const char *path)
{
    for (;;) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            die("open %s: %s", path, strerror(errno));
        if (flock(fd, LOCK_EX) < 0)
            die("flock %s: %s", path, strerror(errno));
        struct stat a, b;
        if (stat(path, &a) == 0 && fstat(fd, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            return fd;
        close(fd);
    }
}

static int alive(int32_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

void named_pipe_open(struct named_pipe *np, const char *name, unsigned end, uint32_t slots,
                     uint32_t buf_size)
{
    char err[256] = "", fifo[520];
    memset(np, 0, sizeof *np);
    np->end = end;
    if (snprintf(np->path, sizeof np->path, SHM_PREFIX "%s", name) >= (int)sizeof np->path)
        die("pipe name too long");
    np->mem_fd = lock_file(np->path);
    struct stat st;
    if (fstat(np->mem_fd, &st) < 0)
        die("fstat %s: %s", np->path, strerror(errno));
    size_t size = (size_t)st.st_size;
    if (size == 0) { /* first opener: lay the pipe out */
        size = anm_pipe_region_size(slots, buf_size);
        if (size == 0 || ftruncate(np->mem_fd, (off_t)size) < 0)
            die("%s: cannot size a pipe of %u slots x %u bytes", np->path, slots, buf_size);
    }
    uint8_t *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, np->mem_fd, 0);
    if (base == MAP_FAILED)
        die("mmap %s: %s", np->path, strerror(errno));
    if (st.st_size == 0 && anm_pipe_format(base, size, slots, buf_size, err, sizeof err) < 0)
        die("%s: %s", np->path, err);
    snprintf(fifo, sizeof fifo, "%s.%c", np->path, "ab"[end]);
    np->own_fd = open_fifo(fifo);
    snprintf(fifo, sizeof fifo, "%s.%c", np->path, "ba"[end]);
    np->peer_fd = open_fifo(fifo);
    if (anm_pipe_attach(&np->p, base, size, end, np->own_fd, np->peer_fd, err, sizeof err) < 0)
        die("%s: %s", np->path, err);
    uint32_t state = anm_pipe_state(&np->p, end);
    if ((state == ANM_END_OPEN || state == ANM_END_DETACHED) &&
        alive(anm_pipe_owner(&np->p, end)))
        die("%s: end %c is already open", np->path, "ab"[end]);
    if (!anm_pipe_claim(&np->p, state, getpid()))
        die("%s: end %c was taken concurrently", np->path, "ab"[end]);
    flock(np->mem_fd, LOCK_UN);
    if (anm_rings_init(&np->r, base, size, np->p.nifp_off, 0, err, sizeof err) < 0)
        die("%s: %s", np->path, err);
}

int named_pipe_peer_closed(const struct named_pipe *np)
{
    return anm_pipe_state(&np->p, 1 - np->end) == ANM_END_CLOSED;
}

void named_pipe_close(struct named_pipe *np)
{
    anm_pipe_txsync(&np->p, &np->r); /* best effort: deliver what is queued */
    flock(np->mem_fd, LOCK_EX);
    anm_pipe_set_state(&np->p, ANM_END_CLOSED);
    uint32_t peer = anm_pipe_state(&np->p, 1 - np->end);
    int gone = peer == ANM_END_FREE || peer == ANM_END_CLOSED ||
               (peer == ANM_END_OPEN && !alive(anm_pipe_owner(&np->p, 1 - np->end)));
    if (gone) {
        char fifo[520];
        unlink(np->path);
        for (int e = 0; e < 2; e++) {
            snprintf(fifo, sizeof fifo, "%s.%c", np->path, "ab"[e]);
            unlink(fifo);
        }
    }
    munmap(np->p.base, np->p.size);
    close(np->own_fd);
    close(np->peer_fd);
    close(np->mem_fd); /* drops the lock */
}

void named_pipe_wait(struct named_pipe *np, int timeout_ms)
{
    named_pipe_wait_us(np, (int64_t)timeout_ms * 1000);
}

void named_pipe_wait_us(struct named_pipe *np, int64_t timeout_us)
{
    struct pollfd pfd = {.fd = np->own_fd, .events = POLLIN};
    struct timespec ts = {.tv_sec = timeout_us / 1000000, .tv_nsec = (timeout_us % 1000000) * 1000};
    ppoll(&pfd, 1, &ts, NULL);
}
