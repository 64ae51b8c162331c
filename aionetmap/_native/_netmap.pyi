# Type stub for the compiled cffi module aionetmap._native._netmap.
# Declarations: netmap.cdef.
# Checked against the module by tests/native/test_native_stubs.py.

import _cffi_backend

__all__ = ["ffi", "lib"]

_CData = _cffi_backend._CDataBase

class _Lib:
    # constants of netmap_abi.h / netmapsys.h (values come from the C compiler)
    NETMAP_API: int
    NETMAP_MIN_API: int
    NETMAP_MAX_API: int
    NM_CACHE_ALIGN: int
    NETMAP_REQ_IFNAMSIZ: int
    NETMAP_REQ_MAXSIZE: int
    NM_IFNAMSIZ: int
    NETMAP_MAX_FRAGS: int
    ANM_SYS_IFNAMSIZ: int
    NETMAP_REQ_REGISTER: int
    NETMAP_REQ_PORT_INFO_GET: int
    NETMAP_REQ_VALE_ATTACH: int
    NETMAP_REQ_VALE_DETACH: int
    NETMAP_REQ_VALE_LIST: int
    NETMAP_REQ_PORT_HDR_SET: int
    NETMAP_REQ_PORT_HDR_GET: int
    NETMAP_REQ_VALE_NEWIF: int
    NETMAP_REQ_VALE_DELIF: int
    NETMAP_REQ_VALE_POLLING_ENABLE: int
    NETMAP_REQ_VALE_POLLING_DISABLE: int
    NETMAP_REQ_POOLS_INFO_GET: int
    NETMAP_REQ_SYNC_KLOOP_START: int
    NETMAP_REQ_SYNC_KLOOP_STOP: int
    NETMAP_REQ_CSB_ENABLE: int
    NETMAP_REQ_OPT_EXTMEM: int
    NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS: int
    NETMAP_REQ_OPT_CSB: int
    NETMAP_REQ_OPT_SYNC_KLOOP_MODE: int
    NETMAP_REQ_OPT_OFFSETS: int
    NETMAP_REQ_OPT_MAX: int
    NR_REG_DEFAULT: int
    NR_REG_ALL_NIC: int
    NR_REG_SW: int
    NR_REG_NIC_SW: int
    NR_REG_ONE_NIC: int
    NR_REG_PIPE_MASTER: int
    NR_REG_PIPE_SLAVE: int
    NR_REG_NULL: int
    NR_REG_ONE_SW: int
    NR_MONITOR_TX: int
    NR_MONITOR_RX: int
    NR_ZCOPY_MON: int
    NR_EXCLUSIVE: int
    NR_RX_RINGS_ONLY: int
    NR_TX_RINGS_ONLY: int
    NR_ACCEPT_VNET_HDR: int
    NR_DO_RX_POLL: int
    NR_NO_TX_POLL: int
    NS_BUF_CHANGED: int
    NS_REPORT: int
    NS_FORWARD: int
    NS_NO_LEARN: int
    NS_INDIRECT: int
    NS_MOREFRAG: int
    NS_TXMON: int
    NS_PORT_SHIFT: int
    NS_PORT_MASK: int
    NR_TIMESTAMP: int
    NR_FORWARD: int
    NI_PRIV_MEM: int
    NIOCCTRL: int
    NIOCTXSYNC: int
    NIOCRXSYNC: int
    NIOCGINFO: int
    NIOCREGIF: int
    NIOCCONFIG: int
    ANM_IOC_CTRL: int
    ANM_IOC_TXSYNC: int
    ANM_IOC_RXSYNC: int
    ANM_IOC_GINFO: int
    ANM_IOC_REGIF: int
    ANM_IOC_CONFIG: int

    # syscalls (netmapsys.c): 0 or a positive errno
    def anm_device_path(self) -> _CData: ...
    def anm_ctrl(self, fd: int, hdr: _CData, body: _CData, /) -> int: ...
    def anm_txsync(self, fd: int, /) -> int: ...
    def anm_rxsync(self, fd: int, /) -> int: ...

ffi: _cffi_backend.FFI
lib: _Lib
