/* AF_PACKET backend, part 1: sockets in another network namespace, and the interface facts
 * (index, MTU, MAC), driver name and ethtool settings the backend, the test fixtures and
 * `aionetmap doctor` need. */
#define _GNU_SOURCE
#include "packet.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int pkt_netns_socket(const char *nspath, int domain, int type, int protocol, int *stage)
{
    int self = -1, target = -1, fd = -1, err = 0;

    *stage = PKT_STAGE_NONE;
    if (nspath == NULL || nspath[0] == '\0') {
        *stage = PKT_STAGE_SOCKET;
        fd = socket(domain, type | SOCK_CLOEXEC, protocol);
        return fd >= 0 ? fd : -errno;
    }
    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        *stage = PKT_STAGE_SELF_NS;
        return -errno;
    }
    target = open(nspath, O_RDONLY | O_CLOEXEC);
    if (target < 0) {
        err = -errno;
        *stage = PKT_STAGE_OPEN_NS;
        close(self);
        return err;
    }
    if (setns(target, CLONE_NEWNET) < 0) {
        err = -errno;
        *stage = PKT_STAGE_SETNS;
    } else {
        fd = socket(domain, type | SOCK_CLOEXEC, protocol);
        if (fd < 0) {
            err = -errno;
            *stage = PKT_STAGE_SOCKET;
        }
        /* Always switch back: the calling thread runs Python code next. */
        if (setns(self, CLONE_NEWNET) < 0) {
            err = -errno;
            *stage = PKT_STAGE_RESTORE;
            if (fd >= 0)
                close(fd);
            fd = -1;
        }
    }
    close(target);
    close(self);
    return fd >= 0 ? fd : err;
}

static int copy_ifname(struct ifreq *ifr, const char *ifname)
{
    size_t n = strlen(ifname);

    memset(ifr, 0, sizeof(*ifr));
    if (n == 0 || n >= IFNAMSIZ)
        return -EINVAL;
    memcpy(ifr->ifr_name, ifname, n);
    return 0;
}

int pkt_ifinfo_get(int fd, const char *ifname, pkt_ifinfo *out)
{
    struct ifreq ifr;

    memset(out, 0, sizeof(*out));
    if (copy_ifname(&ifr, ifname) < 0)
        return -EINVAL;
    if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
        return -errno;
    out->ifindex = ifr.ifr_ifindex;
    if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
        return -errno;
    out->mtu = ifr.ifr_mtu;
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
        return -errno;
    out->hatype = ifr.ifr_hwaddr.sa_family;
    memcpy(out->mac, ifr.ifr_hwaddr.sa_data, 6);
    return 0;
}

int pkt_ethtool_set(int fd, const char *ifname, uint32_t cmd, uint32_t value)
{
    struct ethtool_value ev = {.cmd = cmd, .data = value};
    struct ifreq ifr;

    if (copy_ifname(&ifr, ifname) < 0)
        return -EINVAL;
    ifr.ifr_data = (char *)&ev;
    return ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

int pkt_ethtool_get(int fd, const char *ifname, uint32_t cmd, uint32_t *value)
{
    struct ethtool_value ev = {.cmd = cmd, .data = 0};
    struct ifreq ifr;

    if (copy_ifname(&ifr, ifname) < 0)
        return -EINVAL;
    ifr.ifr_data = (char *)&ev;
    if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
        return -errno;
    *value = ev.data;
    return 0;
}

int pkt_ethtool_driver(int fd, const char *ifname, char *out, size_t outlen)
{
    struct ethtool_drvinfo info;
    struct ifreq ifr;
    size_t n;

    if (out == NULL || outlen == 0)
        return -EINVAL;
    out[0] = '\0';
    if (copy_ifname(&ifr, ifname) < 0)
        return -EINVAL;
    memset(&info, 0, sizeof(info));
    info.cmd = ETHTOOL_GDRVINFO;
    ifr.ifr_data = (char *)&info;
    if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
        return -errno;
    /* The kernel NUL-terminates it, but do not rely on that: stop at the field's end. */
    n = strnlen(info.driver, sizeof(info.driver));
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, info.driver, n);
    out[n] = '\0';
    return (int)n;
}
