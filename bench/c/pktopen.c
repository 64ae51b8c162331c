#include "pktopen.h"

#include <string.h>
#include <sys/socket.h>

#include "benchlib.h"

pkt_port *bench_open_packet(const char *ifname, uint32_t rx_frames, pkt_ifinfo *ifi)
{
    int stage = 0, err = 0;
    int fd = pkt_netns_socket(NULL, AF_PACKET, SOCK_RAW, 0, &stage);
    if (fd < 0)
        die("AF_PACKET socket: %s", strerror(-fd));
    int rc = pkt_ifinfo_get(fd, ifname, ifi);
    if (rc < 0)
        die("interface %s: %s", ifname, strerror(-rc));
    pkt_config cfg = {.rx_frames = rx_frames, .tx_slots = 1024, .tx_max = (uint32_t)ifi->mtu + 14};
    pkt_port *p = pkt_port_new(fd, ifi, &cfg, &err, &stage);
    if (p == NULL)
        die("opening %s failed at stage %d: %s", ifname, stage, strerror(-err));
    return p;
}
