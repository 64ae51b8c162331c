/*
 * netmap syscalls for the kernel port. Kept to what needs C: ioctl with a pointer inside
 * the argument (NIOCCTRL carries the body's user address), and the two sync ioctls.
 * open/mmap/close are done from Python, whose os and mmap modules already report errno.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "netmapsys.h"

const char *anm_device_path(void)
{
    return NETMAP_DEVICE;
}

/* Returns errno as read right after the call, so nothing between the syscall and the
 * caller (cffi, Python) can overwrite it. */
static int anm_ioctl(int fd, unsigned long request, void *arg)
{
    if (ioctl(fd, request, arg) == 0)
        return 0;
    return errno ? errno : EIO;
}

int anm_ctrl(int fd, struct nmreq_header *hdr, void *body)
{
    if (hdr == NULL)
        return EFAULT;
    hdr->nr_body = (uint64_t)(uintptr_t)body;
    return anm_ioctl(fd, NIOCCTRL, hdr);
}

int anm_txsync(int fd)
{
    return anm_ioctl(fd, NIOCTXSYNC, NULL);
}

int anm_rxsync(int fd)
{
    return anm_ioctl(fd, NIOCRXSYNC, NULL);
}
