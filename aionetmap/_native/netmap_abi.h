/*
 * netmap user-space ABI (control API 14, NIOCCTRL), x86-64 Linux.
 *
 * Our own declarations, written from the layout tables in shared/netmap-abi.md (which were
 * computed with offsetof/sizeof against netmap's headers). We do not include netmap's
 * headers: they are not packaged anywhere we can install from.
 *
 * Implicit compiler padding is spelled out as named fields so that the same layout can be
 * mirrored by hand (cffi ABI mode, ctypes) and so that the _Static_asserts at the end pin
 * every offset the kernel relies on. A wrong offset here fails the build, not a user.
 */
#ifndef AIONETMAP_NETMAP_ABI_H
#define AIONETMAP_NETMAP_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

/* ---- versions, limits, paths ------------------------------------------------------- */
#define NETMAP_API 14
#define NETMAP_MIN_API 14
#define NETMAP_MAX_API 15
#define NM_CACHE_ALIGN 128
#define NETMAP_REQ_IFNAMSIZ 64
#define NETMAP_REQ_MAXSIZE 4096
#define NM_IFNAMSIZ 16
#define NETMAP_MAX_FRAGS 64
#define NETMAP_DEVICE "/dev/netmap"

/* ---- request types (nmreq_header.nr_reqtype) ---------------------------------------- */
#define NETMAP_REQ_REGISTER 1
#define NETMAP_REQ_PORT_INFO_GET 2
#define NETMAP_REQ_VALE_ATTACH 3
#define NETMAP_REQ_VALE_DETACH 4
#define NETMAP_REQ_VALE_LIST 5
#define NETMAP_REQ_PORT_HDR_SET 6
#define NETMAP_REQ_PORT_HDR_GET 7
#define NETMAP_REQ_VALE_NEWIF 8
#define NETMAP_REQ_VALE_DELIF 9
#define NETMAP_REQ_VALE_POLLING_ENABLE 10
#define NETMAP_REQ_VALE_POLLING_DISABLE 11
#define NETMAP_REQ_POOLS_INFO_GET 12
#define NETMAP_REQ_SYNC_KLOOP_START 13
#define NETMAP_REQ_SYNC_KLOOP_STOP 14
#define NETMAP_REQ_CSB_ENABLE 15

/* option types (nmreq_option.nro_reqtype) */
#define NETMAP_REQ_OPT_EXTMEM 1
#define NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS 2
#define NETMAP_REQ_OPT_CSB 3
#define NETMAP_REQ_OPT_SYNC_KLOOP_MODE 4
#define NETMAP_REQ_OPT_OFFSETS 5
#define NETMAP_REQ_OPT_MAX 6

/* ---- registration modes (nmreq_register.nr_mode) ------------------------------------ */
#define NR_REG_DEFAULT 0
#define NR_REG_ALL_NIC 1
#define NR_REG_SW 2
#define NR_REG_NIC_SW 3
#define NR_REG_ONE_NIC 4
#define NR_REG_PIPE_MASTER 5 /* rejected by current kernels: use "x{y" names */
#define NR_REG_PIPE_SLAVE 6  /* rejected by current kernels: use "x}y" names */
#define NR_REG_NULL 7
#define NR_REG_ONE_SW 8

/* ---- registration flags (nmreq_register.nr_flags, 64-bit) --------------------------- */
#define NR_MONITOR_TX 0x100ULL
#define NR_MONITOR_RX 0x200ULL
#define NR_ZCOPY_MON 0x400ULL
#define NR_EXCLUSIVE 0x800ULL
#define NR_RX_RINGS_ONLY 0x2000ULL
#define NR_TX_RINGS_ONLY 0x4000ULL
#define NR_ACCEPT_VNET_HDR 0x8000ULL
#define NR_DO_RX_POLL 0x10000ULL /* defined by the ABI; the kernel never reads it */
#define NR_NO_TX_POLL 0x20000ULL

/* ---- slot flags (netmap_slot.flags, 16-bit) ----------------------------------------- */
#define NS_BUF_CHANGED 0x0001
#define NS_REPORT 0x0002
#define NS_FORWARD 0x0004
#define NS_NO_LEARN 0x0008
#define NS_INDIRECT 0x0010
#define NS_MOREFRAG 0x0020
#define NS_TXMON 0x0040
#define NS_PORT_SHIFT 8
#define NS_PORT_MASK (0xff << NS_PORT_SHIFT)

/* ring flags (netmap_ring.flags) */
#define NR_TIMESTAMP 0x0002
#define NR_FORWARD 0x0004

/* netmap_if.ni_flags */
#define NI_PRIV_MEM 0x1

/* ---- ioctl numbers ('i' group) ------------------------------------------------------ */
#define NIOCCTRL 0xC0586997UL   /* _IOWR('i', 151, struct nmreq_header) */
#define NIOCTXSYNC 0x6994UL     /* _IO('i', 148) */
#define NIOCRXSYNC 0x6995UL     /* _IO('i', 149) */
#define NIOCGINFO 0xC03C6991UL  /* legacy, _IOWR('i', 145, struct nmreq) */
#define NIOCREGIF 0xC03C6992UL  /* legacy, _IOWR('i', 146, struct nmreq) */
#define NIOCCONFIG 0xC1106996UL /* _IOWR('i', 150, struct nm_ifreq) */

/* ---- control structures ------------------------------------------------------------- */

/* The argument of NIOCCTRL. 88 bytes. */
struct nmreq_header {
    uint16_t nr_version;  /* NETMAP_API */
    uint16_t nr_reqtype;  /* NETMAP_REQ_* */
    uint32_t nr_reserved; /* must be zero */
    char nr_name[NETMAP_REQ_IFNAMSIZ]; /* kernel port name, no "netmap:" prefix */
    uint64_t nr_options;  /* user address of the first nmreq_option, or 0 */
    uint64_t nr_body;     /* user address of the request body */
};

/* Body of NETMAP_REQ_REGISTER. 56 bytes. */
struct nmreq_register {
    uint64_t nr_offset;  /* out: netmap_if offset in the mapped region */
    uint64_t nr_memsize; /* out: size of the region to mmap */
    uint32_t nr_tx_slots;
    uint32_t nr_rx_slots;
    uint16_t nr_tx_rings; /* adapter totals, not the rings bound to this fd */
    uint16_t nr_rx_rings;
    uint16_t nr_host_tx_rings;
    uint16_t nr_host_rx_rings;
    uint16_t nr_mem_id;
    uint16_t nr_ringid; /* ring for NR_REG_ONE_NIC / NR_REG_ONE_SW */
    uint32_t nr_mode;   /* NR_REG_* */
    uint32_t nr_extra_bufs;
    uint32_t nr_pad0; /* implicit padding in netmap's header */
    uint64_t nr_flags; /* NR_* */
};

/* Body of NETMAP_REQ_PORT_INFO_GET. 32 bytes. */
struct nmreq_port_info_get {
    uint64_t nr_memsize;
    uint32_t nr_tx_slots;
    uint32_t nr_rx_slots;
    uint16_t nr_tx_rings;
    uint16_t nr_rx_rings;
    uint16_t nr_host_tx_rings;
    uint16_t nr_host_rx_rings;
    uint16_t nr_mem_id;
    uint16_t nr_pad[3];
};

/* Header of every option in the nr_options chain. 24 bytes; the body follows. */
struct nmreq_option {
    uint64_t nro_next;    /* user address of the next option, or 0 */
    uint32_t nro_reqtype; /* NETMAP_REQ_OPT_* */
    uint32_t nro_status;  /* out: 0 or an errno */
    uint64_t nro_size;    /* for variable-size options */
};

/* Body of NETMAP_REQ_POOLS_INFO_GET, and part of the EXTMEM option. 64 bytes. */
struct nmreq_pools_info {
    uint64_t nr_memsize;
    uint16_t nr_mem_id;
    uint16_t nr_pad0[3];
    uint64_t nr_if_pool_offset;
    uint32_t nr_if_pool_objtotal;
    uint32_t nr_if_pool_objsize;
    uint64_t nr_ring_pool_offset;
    uint32_t nr_ring_pool_objtotal;
    uint32_t nr_ring_pool_objsize;
    uint64_t nr_buf_pool_offset;
    uint32_t nr_buf_pool_objtotal;
    uint32_t nr_buf_pool_objsize;
};

/* NETMAP_REQ_OPT_OFFSETS. 56 bytes. */
struct nmreq_opt_offsets {
    struct nmreq_option nro_opt;
    uint64_t nro_max_offset;
    uint64_t nro_initial_offset;
    uint32_t nro_offset_bits;
    uint32_t nro_tx_align;
    uint64_t nro_min_gap;
};

/* NETMAP_REQ_OPT_EXTMEM. 96 bytes. */
struct nmreq_opt_extmem {
    struct nmreq_option nro_opt;
    uint64_t nro_usrptr;
    struct nmreq_pools_info nro_info;
};

/* Legacy request (NIOCREGIF/NIOCGINFO only). 60 bytes, align 4. Not used by aionetmap;
 * declared so the layout test can pin it. */
struct nmreq {
    char nr_name[NM_IFNAMSIZ];
    uint32_t nr_version;
    uint32_t nr_offset;
    uint32_t nr_memsize; /* 32-bit in the legacy API */
    uint32_t nr_tx_slots;
    uint32_t nr_rx_slots;
    uint16_t nr_tx_rings;
    uint16_t nr_rx_rings;
    uint16_t nr_ringid;
    uint16_t nr_cmd;
    uint16_t nr_arg1;
    uint16_t nr_arg2;
    uint32_t nr_arg3;
    uint32_t nr_flags;
    uint32_t spare2[1];
};

/* ---- shared-memory structures ------------------------------------------------------- */

/* One per registered fd. ring_ofs[] is relative to the netmap_if itself and lists, in
 * order, NIC TX rings, host TX rings, NIC RX rings, host RX rings; an entry is 0 for every
 * ring that is not bound to this fd. */
struct netmap_if {
    char ni_name[NM_IFNAMSIZ];
    uint32_t ni_version;
    uint32_t ni_flags; /* NI_PRIV_MEM */
    uint32_t ni_tx_rings;
    uint32_t ni_rx_rings;
    uint32_t ni_bufs_head;
    uint32_t ni_host_tx_rings; /* always >= 1: a fake host ring is counted */
    uint32_t ni_host_rx_rings;
    uint32_t ni_spare1[3];
    int64_t ring_ofs[];
};

/* 16 bytes. */
struct netmap_slot {
    uint32_t buf_idx; /* 0 and 1 are reserved */
    uint16_t len;     /* bytes in this slot (per fragment) */
    uint16_t flags;   /* NS_* */
    uint64_t ptr;     /* NS_INDIRECT address, or buffer-offset bits with the OFFSETS option */
};

/* 256-byte header, aligned to 128, then the slots. The kernel owns buf_ofs..dir and tail;
 * the user owns head, cur and flags. */
struct netmap_ring {
    int64_t buf_ofs; /* ring address + buf_ofs = start of the buffer pool */
    uint32_t num_slots;
    uint32_t nr_buf_size;
    uint16_t ringid;
    uint16_t dir; /* 0 = TX, 1 = RX */
    uint32_t head;
    uint32_t cur;
    uint32_t tail;
    uint32_t flags; /* NR_TIMESTAMP, NR_FORWARD */
    uint32_t nr_pad0;
    int64_t ts_sec; /* struct timeval of the last rxsync */
    int64_t ts_usec;
    uint64_t offset_mask;
    uint64_t buf_align;
    uint8_t nr_pad1[56];
    uint8_t sem[128] __attribute__((aligned(NM_CACHE_ALIGN)));
    struct netmap_slot slot[];
} __attribute__((aligned(NM_CACHE_ALIGN)));

/* ---- the layout is the contract: pin it ---------------------------------------------- */
#define NM_PIN(type, field, off) _Static_assert(offsetof(struct type, field) == (off), #type "." #field)
#define NM_SIZE(type, size) _Static_assert(sizeof(struct type) == (size), "sizeof " #type)

NM_SIZE(nmreq_header, 88);
NM_PIN(nmreq_header, nr_reqtype, 2);
NM_PIN(nmreq_header, nr_reserved, 4);
NM_PIN(nmreq_header, nr_name, 8);
NM_PIN(nmreq_header, nr_options, 72);
NM_PIN(nmreq_header, nr_body, 80);

NM_SIZE(nmreq_register, 56);
NM_PIN(nmreq_register, nr_memsize, 8);
NM_PIN(nmreq_register, nr_tx_slots, 16);
NM_PIN(nmreq_register, nr_rx_slots, 20);
NM_PIN(nmreq_register, nr_tx_rings, 24);
NM_PIN(nmreq_register, nr_rx_rings, 26);
NM_PIN(nmreq_register, nr_host_tx_rings, 28);
NM_PIN(nmreq_register, nr_host_rx_rings, 30);
NM_PIN(nmreq_register, nr_mem_id, 32);
NM_PIN(nmreq_register, nr_ringid, 34);
NM_PIN(nmreq_register, nr_mode, 36);
NM_PIN(nmreq_register, nr_extra_bufs, 40);
NM_PIN(nmreq_register, nr_flags, 48);

NM_SIZE(nmreq_port_info_get, 32);
NM_PIN(nmreq_port_info_get, nr_mem_id, 24);

NM_SIZE(nmreq_option, 24);
NM_PIN(nmreq_option, nro_status, 12);
NM_PIN(nmreq_option, nro_size, 16);

NM_SIZE(nmreq_pools_info, 64);
NM_PIN(nmreq_pools_info, nr_if_pool_offset, 16);
NM_PIN(nmreq_pools_info, nr_ring_pool_offset, 32);
NM_PIN(nmreq_pools_info, nr_buf_pool_offset, 48);
NM_PIN(nmreq_pools_info, nr_buf_pool_objsize, 60);

NM_SIZE(nmreq_opt_offsets, 56);
NM_PIN(nmreq_opt_offsets, nro_max_offset, 24);
NM_PIN(nmreq_opt_offsets, nro_offset_bits, 40);
NM_PIN(nmreq_opt_offsets, nro_tx_align, 44);
NM_PIN(nmreq_opt_offsets, nro_min_gap, 48);

NM_SIZE(nmreq_opt_extmem, 96);
NM_PIN(nmreq_opt_extmem, nro_usrptr, 24);
NM_PIN(nmreq_opt_extmem, nro_info, 32);

NM_SIZE(nmreq, 60);
NM_PIN(nmreq, nr_memsize, 24);
NM_PIN(nmreq, nr_arg2, 46);
NM_PIN(nmreq, nr_flags, 52);

NM_SIZE(netmap_if, 56);
NM_PIN(netmap_if, ni_host_tx_rings, 36);
NM_PIN(netmap_if, ni_spare1, 44);
NM_PIN(netmap_if, ring_ofs, 56);

NM_SIZE(netmap_slot, 16);
NM_PIN(netmap_slot, len, 4);
NM_PIN(netmap_slot, flags, 6);
NM_PIN(netmap_slot, ptr, 8);

NM_SIZE(netmap_ring, 256);
_Static_assert(_Alignof(struct netmap_ring) == 128, "alignof netmap_ring");
NM_PIN(netmap_ring, num_slots, 8);
NM_PIN(netmap_ring, nr_buf_size, 12);
NM_PIN(netmap_ring, ringid, 16);
NM_PIN(netmap_ring, dir, 18);
NM_PIN(netmap_ring, head, 20);
NM_PIN(netmap_ring, cur, 24);
NM_PIN(netmap_ring, tail, 28);
NM_PIN(netmap_ring, flags, 32);
NM_PIN(netmap_ring, ts_sec, 40);
NM_PIN(netmap_ring, ts_usec, 48);
NM_PIN(netmap_ring, offset_mask, 56);
NM_PIN(netmap_ring, buf_align, 64);
NM_PIN(netmap_ring, sem, 128);
NM_PIN(netmap_ring, slot, 256);

#undef NM_PIN
#undef NM_SIZE

#endif /* AIONETMAP_NETMAP_ABI_H */
