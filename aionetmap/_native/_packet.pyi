# Type stub for the compiled cffi module aionetmap._native._packet.
# Declarations: packet.h, between its cffi markers.
# Checked against the module by tests/native/test_native_stubs.py.

import _cffi_backend

__all__ = ["ffi", "lib"]

_CData = _cffi_backend._CDataBase

class _Lib:
    # which step failed (packet.h), for error messages
    PKT_STAGE_NONE: int
    PKT_STAGE_SELF_NS: int
    PKT_STAGE_OPEN_NS: int
    PKT_STAGE_SETNS: int
    PKT_STAGE_SOCKET: int
    PKT_STAGE_RESTORE: int
    PKT_STAGE_VERSION: int
    PKT_STAGE_RX_RING: int
    PKT_STAGE_MMAP: int
    PKT_STAGE_OPTIONS: int
    PKT_STAGE_BIND: int
    PKT_STAGE_ALLOC: int
    PKT_RXCSUM_UNKNOWN: int
    PKT_RXCSUM_PARTIAL: int
    PKT_RXCSUM_VALID: int
    # legacy ethtool commands (linux/ethtool.h), used by the test fixtures
    ETHTOOL_GTXCSUM: int
    ETHTOOL_STXCSUM: int
    ETHTOOL_GRXCSUM: int
    ETHTOOL_SRXCSUM: int
    ETHTOOL_GSG: int
    ETHTOOL_SSG: int
    ETHTOOL_GGRO: int
    ETHTOOL_SGRO: int

    # every int result: >= 0 on success, a negative errno on failure
    def pkt_netns_socket(
        self, nspath: bytes | _CData, domain: int, type: int, protocol: int, stage: _CData, /
    ) -> int: ...
    def pkt_ifinfo_get(self, fd: int, ifname: bytes, out: _CData, /) -> int: ...
    def pkt_ethtool_set(self, fd: int, ifname: bytes, cmd: int, value: int, /) -> int: ...
    def pkt_ethtool_get(self, fd: int, ifname: bytes, cmd: int, value: _CData, /) -> int: ...
    def pkt_ethtool_driver(self, fd: int, ifname: bytes, out: _CData, outlen: int, /) -> int: ...
    def pkt_port_new(
        self, fd: int, ifi: _CData, cfg: _CData, err: _CData, stage: _CData, /
    ) -> _CData: ...
    def pkt_port_free(self, p: _CData, /) -> None: ...
    def pkt_port_fd(self, p: _CData, /) -> int: ...
    def pkt_rx_frame_size(self, p: _CData, /) -> int: ...
    def pkt_rx_ring_frames(self, p: _CData, /) -> int: ...
    def pkt_port_stats(self, p: _CData, /) -> _CData: ...
    # csum: uint8_t[] of PKT_RXCSUM_* flags per frame, or ffi.NULL
    def pkt_rx_burst(
        self,
        p: _CData,
        arena: _CData,
        arena_size: int,
        offs: _CData,
        lens: _CData,
        csum: _CData,
        max: int,
        /,
    ) -> int: ...
    def pkt_rx_ready(self, p: _CData, /) -> int: ...
    def pkt_tx_queue(
        self,
        p: _CData,
        arena: _CData | bytes,
        arena_size: int,
        offs: _CData,
        lens: _CData,
        count: int,
        /,
    ) -> int: ...
    def pkt_tx_space(self, p: _CData, /) -> int: ...
    def pkt_tx_pending(self, p: _CData, /) -> int: ...
    def pkt_tx_flush(self, p: _CData, /) -> int: ...
    def pkt_kernel_stats(self, p: _CData, /) -> int: ...

ffi: _cffi_backend.FFI
lib: _Lib
