"""The netmap ABI as the C compiler lays it out, against the tables of netmap-abi.md.

Every expected number below is typed in from netmap-abi.md (§1.1-1.8, §2.1-2.5), which is
the spec; the actual numbers come from the compiler through the API-mode cffi module
(``ffi.offsetof``/``ffi.sizeof``/``ffi.alignof`` and the ``lib`` constants), so a mistake in
netmap_abi.h shows up here as one failing row.
"""

from __future__ import annotations

import pytest

from aionetmap._native._netmap import ffi, lib

# (struct, field, offset, size, C type): one row per field of the document's tables.
FIELDS: list[tuple[str, str, int, int, str]] = [
    # §1.1 nmreq_header
    ("nmreq_header", "nr_version", 0, 2, "uint16_t"),
    ("nmreq_header", "nr_reqtype", 2, 2, "uint16_t"),
    ("nmreq_header", "nr_reserved", 4, 4, "uint32_t"),
    ("nmreq_header", "nr_name", 8, 64, "char[64]"),
    ("nmreq_header", "nr_options", 72, 8, "uint64_t"),
    ("nmreq_header", "nr_body", 80, 8, "uint64_t"),
    # §1.2 nmreq_register (implicit pad at 44..47 is nr_pad0 in our header)
    ("nmreq_register", "nr_offset", 0, 8, "uint64_t"),
    ("nmreq_register", "nr_memsize", 8, 8, "uint64_t"),
    ("nmreq_register", "nr_tx_slots", 16, 4, "uint32_t"),
    ("nmreq_register", "nr_rx_slots", 20, 4, "uint32_t"),
    ("nmreq_register", "nr_tx_rings", 24, 2, "uint16_t"),
    ("nmreq_register", "nr_rx_rings", 26, 2, "uint16_t"),
    ("nmreq_register", "nr_host_tx_rings", 28, 2, "uint16_t"),
    ("nmreq_register", "nr_host_rx_rings", 30, 2, "uint16_t"),
    ("nmreq_register", "nr_mem_id", 32, 2, "uint16_t"),
    ("nmreq_register", "nr_ringid", 34, 2, "uint16_t"),
    ("nmreq_register", "nr_mode", 36, 4, "uint32_t"),
    ("nmreq_register", "nr_extra_bufs", 40, 4, "uint32_t"),
    ("nmreq_register", "nr_pad0", 44, 4, "uint32_t"),
    ("nmreq_register", "nr_flags", 48, 8, "uint64_t"),
    # §1.3 nmreq_port_info_get
    ("nmreq_port_info_get", "nr_memsize", 0, 8, "uint64_t"),
    ("nmreq_port_info_get", "nr_tx_slots", 8, 4, "uint32_t"),
    ("nmreq_port_info_get", "nr_rx_slots", 12, 4, "uint32_t"),
    ("nmreq_port_info_get", "nr_tx_rings", 16, 2, "uint16_t"),
    ("nmreq_port_info_get", "nr_rx_rings", 18, 2, "uint16_t"),
    ("nmreq_port_info_get", "nr_host_tx_rings", 20, 2, "uint16_t"),
    ("nmreq_port_info_get", "nr_host_rx_rings", 22, 2, "uint16_t"),
    ("nmreq_port_info_get", "nr_mem_id", 24, 2, "uint16_t"),
    ("nmreq_port_info_get", "nr_pad", 26, 6, "uint16_t[3]"),
    # §1.4 nmreq_option and the option bodies
    ("nmreq_option", "nro_next", 0, 8, "uint64_t"),
    ("nmreq_option", "nro_reqtype", 8, 4, "uint32_t"),
    ("nmreq_option", "nro_status", 12, 4, "uint32_t"),
    ("nmreq_option", "nro_size", 16, 8, "uint64_t"),
    ("nmreq_opt_extmem", "nro_opt", 0, 24, "struct nmreq_option"),
    ("nmreq_opt_extmem", "nro_usrptr", 24, 8, "uint64_t"),
    ("nmreq_opt_extmem", "nro_info", 32, 64, "struct nmreq_pools_info"),
    ("nmreq_opt_sync_kloop_eventfds", "nro_opt", 0, 24, "struct nmreq_option"),
    ("nmreq_opt_sync_kloop_eventfds", "eventfds", 24, 8, "struct anm_kloop_eventfd[]"),
    ("nmreq_opt_csb", "nro_opt", 0, 24, "struct nmreq_option"),
    ("nmreq_opt_csb", "csb_atok", 24, 8, "uint64_t"),
    ("nmreq_opt_csb", "csb_ktoa", 32, 8, "uint64_t"),
    ("nmreq_opt_sync_kloop_mode", "nro_opt", 0, 24, "struct nmreq_option"),
    ("nmreq_opt_sync_kloop_mode", "mode", 24, 4, "uint32_t"),
    ("nmreq_opt_offsets", "nro_opt", 0, 24, "struct nmreq_option"),
    ("nmreq_opt_offsets", "nro_max_offset", 24, 8, "uint64_t"),
    ("nmreq_opt_offsets", "nro_initial_offset", 32, 8, "uint64_t"),
    ("nmreq_opt_offsets", "nro_offset_bits", 40, 4, "uint32_t"),
    ("nmreq_opt_offsets", "nro_tx_align", 44, 4, "uint32_t"),
    ("nmreq_opt_offsets", "nro_min_gap", 48, 8, "uint64_t"),
    ("anm_kloop_eventfd", "ioeventfd", 0, 4, "int32_t"),
    ("anm_kloop_eventfd", "irqfd", 4, 4, "int32_t"),
    ("nmreq_pools_info", "nr_memsize", 0, 8, "uint64_t"),
    ("nmreq_pools_info", "nr_mem_id", 8, 2, "uint16_t"),
    ("nmreq_pools_info", "nr_pad0", 10, 6, "uint16_t[3]"),
    ("nmreq_pools_info", "nr_if_pool_offset", 16, 8, "uint64_t"),
    ("nmreq_pools_info", "nr_if_pool_objtotal", 24, 4, "uint32_t"),
    ("nmreq_pools_info", "nr_if_pool_objsize", 28, 4, "uint32_t"),
    ("nmreq_pools_info", "nr_ring_pool_offset", 32, 8, "uint64_t"),
    ("nmreq_pools_info", "nr_ring_pool_objtotal", 40, 4, "uint32_t"),
    ("nmreq_pools_info", "nr_ring_pool_objsize", 44, 4, "uint32_t"),
    ("nmreq_pools_info", "nr_buf_pool_offset", 48, 8, "uint64_t"),
    ("nmreq_pools_info", "nr_buf_pool_objtotal", 56, 4, "uint32_t"),
    ("nmreq_pools_info", "nr_buf_pool_objsize", 60, 4, "uint32_t"),
    # §1.5 netmap_if (ring_ofs is a flexible array of int64; its size is per element)
    ("netmap_if", "ni_name", 0, 16, "char[16]"),
    ("netmap_if", "ni_version", 16, 4, "uint32_t"),
    ("netmap_if", "ni_flags", 20, 4, "uint32_t"),
    ("netmap_if", "ni_tx_rings", 24, 4, "uint32_t"),
    ("netmap_if", "ni_rx_rings", 28, 4, "uint32_t"),
    ("netmap_if", "ni_bufs_head", 32, 4, "uint32_t"),
    ("netmap_if", "ni_host_tx_rings", 36, 4, "uint32_t"),
    ("netmap_if", "ni_host_rx_rings", 40, 4, "uint32_t"),
    ("netmap_if", "ni_spare1", 44, 12, "uint32_t[3]"),
    ("netmap_if", "ring_ofs", 56, 8, "int64_t[]"),
    # §1.6 netmap_ring (ts is declared as two int64; pads are named nr_pad0/nr_pad1)
    ("netmap_ring", "buf_ofs", 0, 8, "int64_t"),
    ("netmap_ring", "num_slots", 8, 4, "uint32_t"),
    ("netmap_ring", "nr_buf_size", 12, 4, "uint32_t"),
    ("netmap_ring", "ringid", 16, 2, "uint16_t"),
    ("netmap_ring", "dir", 18, 2, "uint16_t"),
    ("netmap_ring", "head", 20, 4, "uint32_t"),
    ("netmap_ring", "cur", 24, 4, "uint32_t"),
    ("netmap_ring", "tail", 28, 4, "uint32_t"),
    ("netmap_ring", "flags", 32, 4, "uint32_t"),
    ("netmap_ring", "nr_pad0", 36, 4, "uint32_t"),
    ("netmap_ring", "ts_sec", 40, 8, "int64_t"),
    ("netmap_ring", "ts_usec", 48, 8, "int64_t"),
    ("netmap_ring", "offset_mask", 56, 8, "uint64_t"),
    ("netmap_ring", "buf_align", 64, 8, "uint64_t"),
    ("netmap_ring", "nr_pad1", 72, 56, "uint8_t[56]"),
    ("netmap_ring", "sem", 128, 128, "uint8_t[128]"),
    ("netmap_ring", "slot", 256, 16, "struct netmap_slot[]"),
    # §1.7 netmap_slot
    ("netmap_slot", "buf_idx", 0, 4, "uint32_t"),
    ("netmap_slot", "len", 4, 2, "uint16_t"),
    ("netmap_slot", "flags", 6, 2, "uint16_t"),
    ("netmap_slot", "ptr", 8, 8, "uint64_t"),
    # §1.8 legacy nmreq
    ("nmreq", "nr_name", 0, 16, "char[16]"),
    ("nmreq", "nr_version", 16, 4, "uint32_t"),
    ("nmreq", "nr_offset", 20, 4, "uint32_t"),
    ("nmreq", "nr_memsize", 24, 4, "uint32_t"),
    ("nmreq", "nr_tx_slots", 28, 4, "uint32_t"),
    ("nmreq", "nr_rx_slots", 32, 4, "uint32_t"),
    ("nmreq", "nr_tx_rings", 36, 2, "uint16_t"),
    ("nmreq", "nr_rx_rings", 38, 2, "uint16_t"),
    ("nmreq", "nr_ringid", 40, 2, "uint16_t"),
    ("nmreq", "nr_cmd", 42, 2, "uint16_t"),
    ("nmreq", "nr_arg1", 44, 2, "uint16_t"),
    ("nmreq", "nr_arg2", 46, 2, "uint16_t"),
    ("nmreq", "nr_arg3", 48, 4, "uint32_t"),
    ("nmreq", "nr_flags", 52, 4, "uint32_t"),
    ("nmreq", "spare2", 56, 4, "uint32_t[1]"),
]

# (struct, sizeof, alignof)
STRUCTS: list[tuple[str, int, int]] = [
    ("nmreq_header", 88, 8),
    ("nmreq_register", 56, 8),
    ("nmreq_port_info_get", 32, 8),
    ("nmreq_option", 24, 8),
    ("nmreq_pools_info", 64, 8),
    ("nmreq_opt_extmem", 96, 8),
    ("nmreq_opt_sync_kloop_eventfds", 24, 8),  # 24 + 8·N
    ("nmreq_opt_csb", 40, 8),
    ("nmreq_opt_sync_kloop_mode", 32, 8),
    ("nmreq_opt_offsets", 56, 8),
    ("anm_kloop_eventfd", 8, 4),
    ("netmap_if", 56, 8),
    ("netmap_ring", 256, 128),
    ("netmap_slot", 16, 8),
    ("nmreq", 60, 4),
]

# (name, value): §2.1-2.5 and the flag values of §1.5/§1.6.
CONSTANTS: list[tuple[str, int]] = [
    # §2.1 ioctl numbers, as spelled in netmap_abi.h
    ("NIOCCTRL", 0xC0586997),
    ("NIOCTXSYNC", 0x6994),
    ("NIOCRXSYNC", 0x6995),
    ("NIOCGINFO", 0xC03C6991),
    ("NIOCREGIF", 0xC03C6992),
    ("NIOCCONFIG", 0xC1106996),
    # ... and as the system's _IO/_IOWR macros compute them from (group, nr, sizeof)
    ("ANM_IOC_CTRL", 0xC0586997),
    ("ANM_IOC_TXSYNC", 0x6994),
    ("ANM_IOC_RXSYNC", 0x6995),
    ("ANM_IOC_GINFO", 0xC03C6991),
    ("ANM_IOC_REGIF", 0xC03C6992),
    ("ANM_IOC_CONFIG", 0xC1106996),
    # §2.1 constants
    ("NETMAP_API", 14),
    ("NETMAP_MIN_API", 14),
    ("NETMAP_MAX_API", 15),
    ("NM_CACHE_ALIGN", 128),
    ("NETMAP_REQ_IFNAMSIZ", 64),
    ("NETMAP_REQ_MAXSIZE", 4096),
    ("NM_IFNAMSIZ", 16),
    ("ANM_SYS_IFNAMSIZ", 16),
    ("NETMAP_MAX_FRAGS", 64),
    # §2.2 request types
    ("NETMAP_REQ_REGISTER", 1),
    ("NETMAP_REQ_PORT_INFO_GET", 2),
    ("NETMAP_REQ_VALE_ATTACH", 3),
    ("NETMAP_REQ_VALE_DETACH", 4),
    ("NETMAP_REQ_VALE_LIST", 5),
    ("NETMAP_REQ_PORT_HDR_SET", 6),
    ("NETMAP_REQ_PORT_HDR_GET", 7),
    ("NETMAP_REQ_VALE_NEWIF", 8),
    ("NETMAP_REQ_VALE_DELIF", 9),
    ("NETMAP_REQ_VALE_POLLING_ENABLE", 10),
    ("NETMAP_REQ_VALE_POLLING_DISABLE", 11),
    ("NETMAP_REQ_POOLS_INFO_GET", 12),
    ("NETMAP_REQ_SYNC_KLOOP_START", 13),
    ("NETMAP_REQ_SYNC_KLOOP_STOP", 14),
    ("NETMAP_REQ_CSB_ENABLE", 15),
    # §2.2 option types (and §1.4)
    ("NETMAP_REQ_OPT_EXTMEM", 1),
    ("NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS", 2),
    ("NETMAP_REQ_OPT_CSB", 3),
    ("NETMAP_REQ_OPT_SYNC_KLOOP_MODE", 4),
    ("NETMAP_REQ_OPT_OFFSETS", 5),
    ("NETMAP_REQ_OPT_MAX", 6),
    # §2.3 nr_mode
    ("NR_REG_DEFAULT", 0),
    ("NR_REG_ALL_NIC", 1),
    ("NR_REG_SW", 2),
    ("NR_REG_NIC_SW", 3),
    ("NR_REG_ONE_NIC", 4),
    ("NR_REG_PIPE_MASTER", 5),
    ("NR_REG_PIPE_SLAVE", 6),
    ("NR_REG_NULL", 7),
    ("NR_REG_ONE_SW", 8),
    # §2.4 nr_flags
    ("NR_MONITOR_TX", 0x100),
    ("NR_MONITOR_RX", 0x200),
    ("NR_ZCOPY_MON", 0x400),
    ("NR_EXCLUSIVE", 0x800),
    ("NR_RX_RINGS_ONLY", 0x2000),
    ("NR_TX_RINGS_ONLY", 0x4000),
    ("NR_ACCEPT_VNET_HDR", 0x8000),
    ("NR_DO_RX_POLL", 0x10000),
    ("NR_NO_TX_POLL", 0x20000),
    # §2.5 slot flags
    ("NS_BUF_CHANGED", 0x0001),
    ("NS_REPORT", 0x0002),
    ("NS_FORWARD", 0x0004),
    ("NS_NO_LEARN", 0x0008),
    ("NS_INDIRECT", 0x0010),
    ("NS_MOREFRAG", 0x0020),
    ("NS_TXMON", 0x0040),
    ("NS_PORT_SHIFT", 8),
    ("NS_PORT_MASK", 0xFF00),
    # §2.5 / §1.6 ring flags, §1.5 interface flags
    ("NR_TIMESTAMP", 0x0002),
    ("NR_FORWARD", 0x0004),
    ("NI_PRIV_MEM", 0x1),
]


@pytest.mark.parametrize(
    ("struct", "field", "offset", "size", "ctype"),
    FIELDS,
    ids=[f"{s}.{f}" for s, f, *_ in FIELDS],
)
def test_field_layout(struct: str, field: str, offset: int, size: int, ctype: str) -> None:
    assert ffi.offsetof(f"struct {struct}", field) == offset
    fields = dict(ffi.typeof(f"struct {struct}").fields)
    ftype = fields[field].type
    assert ftype.cname == ctype
    if ftype.kind == "array" and ftype.length is None:
        # A flexible array member: the table gives the size of one element.
        assert ffi.sizeof(ftype.item) == size
    else:
        assert ffi.sizeof(ftype) == size


@pytest.mark.parametrize(("struct", "size", "align"), STRUCTS, ids=[s for s, *_ in STRUCTS])
def test_struct_size_and_alignment(struct: str, size: int, align: int) -> None:
    assert ffi.sizeof(f"struct {struct}") == size
    assert ffi.alignof(f"struct {struct}") == align


@pytest.mark.parametrize(("name", "value"), CONSTANTS, ids=[n for n, _ in CONSTANTS])
def test_constant(name: str, value: int) -> None:
    assert getattr(lib, name) == value


@pytest.mark.parametrize("struct", sorted({s for s, *_ in FIELDS}))
def test_every_declared_field_is_in_the_table(struct: str) -> None:
    """A field added to the cdef without a row here would escape the layout check."""
    declared = {name for name, _ in ffi.typeof(f"struct {struct}").fields}
    tabled = {f for s, f, *_ in FIELDS if s == struct}
    assert declared == tabled


# Trailing padding the C compiler adds after the last field (§1.4: "mode u32 @24", size 32).
TAIL_PADDING = {"nmreq_opt_sync_kloop_mode": 4}


def test_fields_do_not_overlap_and_fill_each_struct() -> None:
    """Rows of one struct tile it without gaps, so no implicit padding is left unnamed."""
    for struct, size, _ in STRUCTS:
        size -= TAIL_PADDING.get(struct, 0)
        rows = sorted((off, sz) for s, _, off, sz, ct in FIELDS if s == struct and "[]" not in ct)
        end = 0
        for off, sz in rows:
            assert off == end, f"struct {struct}: gap or overlap at {end}"
            end = off + sz
        assert end == size, f"struct {struct}: fields end at {end}, size {size}"


def test_ring_slots_start_after_the_aligned_header() -> None:
    # Slot i lives at ring + 256 + 16·i: what RingSet and the fake kernel rely on.
    ring = ffi.new("struct netmap_ring *")
    base = int(ffi.cast("uintptr_t", ring))
    assert int(ffi.cast("uintptr_t", ffi.addressof(ring, "slot"))) - base == 256


def test_device_path() -> None:
    assert ffi.string(lib.anm_device_path()) == b"/dev/netmap"
