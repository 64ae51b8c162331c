/*
 * Open the project's AF_PACKET port on an interface of this namespace, for the C programs
 * that run on one (the reflector and the generator's packet mode): the same steps
 * PacketPort.open takes, dying with the interface's name and the failed stage.
 */
#ifndef BENCH_PKTOPEN_H
#define BENCH_PKTOPEN_H

#include <stdint.h>

#include "packet.h"

/* rx_frames: TPACKET_V2 RX ring size; *ifi receives the interface's index, MTU and MAC. */
pkt_port *bench_open_packet(const char *ifname, uint32_t rx_frames, pkt_ifinfo *ifi);

#endif
