/*
 * The thin syscall layer of the netmap kernel port, and the few ABI declarations that
 * netmap_abi.h leaves out because aionetmap never sends them (they are declared here only
 * so that the ABI test can pin every row of the option table in netmap-abi.md §1.4).
 *
 * Every call returns 0 (or a file descriptor) on success and a positive errno on failure:
 * errno is read right after the failing syscall, before anything else can overwrite it.
 */
#ifndef AIONETMAP_NETMAPSYS_H
#define AIONETMAP_NETMAPSYS_H

#include <net/if.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "netmap_abi.h"

/* ---- option bodies not used by aionetmap (NETMAP_REQ_OPT_CSB, _SYNC_KLOOP_*) -------- */

struct nmreq_opt_csb {
    struct nmreq_option nro_opt;
    uint64_t csb_atok; /* user address of the application-to-kernel CSB array */
    uint64_t csb_ktoa; /* user address of the kernel-to-application CSB array */
};

struct nmreq_opt_sync_kloop_mode {
    struct nmreq_option nro_opt;
    uint32_t mode;
};

/* One entry per ring of the sync kloop: eventfds for each direction of notification. */
struct anm_kloop_eventfd {
    int32_t ioeventfd;
    int32_t irqfd;
};

struct nmreq_opt_sync_kloop_eventfds {
    struct nmreq_option nro_opt;
    struct anm_kloop_eventfd eventfds[]; /* nro_opt.nro_size covers the whole option */
};

/* ---- ioctl numbers recomputed with the system's own _IO/_IOWR ---------------------- */
/* netmap_abi.h spells the numbers out; these let the ABI test prove the spelled-out
 * values equal what the kernel's encoding of (group, number, argument size) produces. */
#define ANM_IOC_CTRL _IOWR('i', 151, struct nmreq_header)
#define ANM_IOC_TXSYNC _IO('i', 148)
#define ANM_IOC_RXSYNC _IO('i', 149)
#define ANM_IOC_GINFO _IOWR('i', 145, struct nmreq)
#define ANM_IOC_REGIF _IOWR('i', 146, struct nmreq)
#define ANM_IOC_CONFIG_NR 150
#define ANM_NM_IFREQ_SIZE 272 /* sizeof(struct nm_ifreq): name[16] + data[256] */
#define ANM_IOC_CONFIG _IOC(_IOC_READ | _IOC_WRITE, 'i', ANM_IOC_CONFIG_NR, ANM_NM_IFREQ_SIZE)

/* The C library's IFNAMSIZ, to check that NM_IFNAMSIZ agrees with it. */
#define ANM_SYS_IFNAMSIZ IFNAMSIZ

/* ---- syscalls ----------------------------------------------------------------------- */

/* The path netmap's device node has (NETMAP_DEVICE). */
const char *anm_device_path(void);

/* NIOCCTRL with the body attached: sets hdr->nr_body to body (0 when body is NULL) and
 * issues the ioctl. Returns 0 or errno. */
int anm_ctrl(int fd, struct nmreq_header *hdr, void *body);

/* NIOCTXSYNC / NIOCRXSYNC (no argument). Returns 0 or errno. */
int anm_txsync(int fd);
int anm_rxsync(int fd);

#endif /* AIONETMAP_NETMAPSYS_H */
