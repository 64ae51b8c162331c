# Type stub for the compiled cffi module aionetmap._native._fast.
# Declarations: fast.h, between its cffi markers.
# Checked against the module by tests/native/test_native_stubs.py.

import _cffi_backend

__all__ = ["ffi", "lib"]

_CData = _cffi_backend._CDataBase

class _Lib:
    # verdict kinds
    FAST_KIND_DELIVER: int
    FAST_KIND_DROP: int
    FAST_KIND_SLOW: int
    FAST_KIND_DELIVER6: int
    FAST_KIND_GROUP: int
    # DropReason values classify() returns (stack/drops.py)
    FAST_ETH_TRUNCATED: int
    FAST_ETH_OVERSIZE: int
    FAST_ETH_OTHER_HOST: int
    FAST_ETH_MULTICAST: int
    FAST_ETH_BAD_SOURCE: int
    FAST_ETH_UNSUPPORTED_TYPE: int
    FAST_ETH_VLAN_TAGGED: int
    FAST_ETH_VLAN_MISMATCH: int
    FAST_ETH_VLAN_UNTAGGED: int
    FAST_IP_TRUNCATED: int
    FAST_IP_BAD_VERSION: int
    FAST_IP_BAD_IHL: int
    FAST_IP_BAD_TOTAL_LENGTH: int
    FAST_IP_BAD_CHECKSUM: int
    FAST_IP_BAD_SOURCE: int
    FAST_IP_NOT_FOR_US: int
    FAST_IP_L2_BROADCAST: int
    FAST_IP_UNSUPPORTED_PROTOCOL: int
    FAST_UDP_TRUNCATED: int
    FAST_UDP_BAD_LENGTH: int
    FAST_UDP_BAD_CHECKSUM: int
    FAST_UDP_NO_LISTENER: int
    FAST_IP6_TRUNCATED: int
    FAST_IP6_BAD_VERSION: int
    FAST_IP6_BAD_SOURCE: int
    FAST_IP6_NOT_FOR_US: int
    FAST_IP6_L2_MULTICAST: int
    FAST_IP6_BAD_EXTENSION: int
    FAST_IP6_UNKNOWN_HEADER: int
    FAST_IP6_UNKNOWN_OPTION: int
    FAST_IP6_ROUTING_HEADER: int
    FAST_IP6_NO_NEXT_HEADER: int
    FAST_UDP6_TRUNCATED: int
    FAST_UDP6_BAD_LENGTH: int
    FAST_UDP6_ZERO_CHECKSUM: int
    FAST_UDP6_BAD_CHECKSUM: int
    FAST_UDP6_NO_LISTENER: int
    FAST_IP6_BAD_PAYLOAD_LENGTH: int
    # SlowKind values (stack/classify.py)
    FAST_SLOW_ARP: int
    FAST_SLOW_ICMP: int
    FAST_SLOW_FRAGMENT: int
    FAST_SLOW_UDP_UNREACHABLE: int
    FAST_SLOW_MULTICAST_UDP: int
    FAST_SLOW_IGMP: int
    FAST_SLOW_IPV6: int
    # FrameBatch.csum_flags values, and how a delivered datagram's checksum was accepted
    FAST_RXCSUM_UNKNOWN: int
    FAST_RXCSUM_PARTIAL: int
    FAST_RXCSUM_VALID: int
    FAST_CSUM_VERIFIED: int
    FAST_CSUM_OFFLOADED: int
    FAST_CSUM_PSEUDO: int
    # sizes
    FAST_PORT_BITMAP_BYTES: int
    FAST_MAX_MCAST_MACS: int
    FAST_MAX_UDP_PAYLOAD: int
    FAST_UDP_OVERHEAD: int
    FAST_VLAN_TAG_LEN: int
    # IPv6 build sizes
    FAST_MAX_UDP6_PAYLOAD: int
    FAST_UDP6_OVERHEAD: int
    # IPv6 receive
    FAST_MAX_IP6_ADDRS: int
    FAST_SRC6_KEY_LEN: int

    def fast_inet_checksum(self, data: _CData, len: int, initial: int, /) -> int: ...
    # count, or -1 when count exceeds the result arrays' capacity
    def fast_classify(
        self,
        ctx: _CData,
        rx: _CData,
        arena: _CData,
        arena_size: int,
        offs: _CData,
        lens: _CData,
        csum: _CData,
        count: int,
        /,
    ) -> int: ...
    # frames built (fewer than count when the arena fills), datagram i to dsts[dst_index[i]]
    def fast_udp_build_to(
        self,
        src: _CData,
        src_port: int,
        ident: int,
        ident_step: int,
        payloads: bytes,
        payloads_size: int,
        plens: _CData,
        dsts: _CData,
        ndsts: int,
        dst_index: _CData,
        count: int,
        arena: _CData,
        arena_size: int,
        offs: _CData,
        lens: _CData,
        /,
    ) -> int: ...
    # IPv6 frames built (fewer than count when the arena fills), datagram i to
    # dsts[dst_index[i]]
    def fast_udp6_build_to(
        self,
        src: _CData,
        src_port: int,
        max_payload: int,
        payloads: bytes,
        payloads_size: int,
        plens: _CData,
        dsts: _CData,
        ndsts: int,
        dst_index: _CData,
        count: int,
        arena: _CData,
        arena_size: int,
        offs: _CData,
        lens: _CData,
        /,
    ) -> int: ...
    ANM_FORMAT_PER_FRAME: int
    # length of the struct format written, or -1
    def fast_payload_format(self, rx: _CData, count: int, out: _CData, outlen: int, /) -> int: ...

ffi: _cffi_backend.FFI
lib: _Lib
