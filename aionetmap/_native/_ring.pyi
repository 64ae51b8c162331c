# Type stub for the compiled cffi module aionetmap._native._ring.
# Declarations: ring.h, pipe.h, batchfmt.h, between their cffi markers.
# Checked against the module by tests/native/test_native_stubs.py.

import _cffi_backend

__all__ = ["ffi", "lib"]

_CData = _cffi_backend._CDataBase

class _Lib:
    NETMAP_MAX_FRAGS: int
    NS_BUF_CHANGED: int
    NS_MOREFRAG: int
    ANM_MAX_RINGS: int
    ANM_RINGS_FRAGMENTS: int
    ANM_PIPE_MIN_SLOTS: int
    ANM_PIPE_MAX_SLOTS: int
    ANM_PIPE_MIN_BUF: int
    ANM_PIPE_MAX_BUF: int
    ANM_END_FREE: int
    ANM_END_OPEN: int
    ANM_END_CLOSED: int
    ANM_END_DETACHED: int

    # ring.h: 0 or -errno; counts otherwise
    def anm_rings_init(
        self,
        r: _CData,
        base: _CData,
        size: int,
        nifp_off: int,
        flags: int,
        err: _CData,
        errlen: int,
        /,
    ) -> int: ...
    def anm_rx_burst(
        self, r: _CData, arena: _CData, arena_len: int, offs: _CData, lens: _CData, max: int, /
    ) -> int: ...
    def anm_tx_burst(
        self,
        r: _CData,
        data: bytes | _CData,
        data_len: int,
        offs: _CData,
        lens: _CData,
        n: int,
        /,
    ) -> int: ...
    ANM_TX_MISMATCH: int
    ANM_TX_OVERSIZE: int
    def anm_tx_packed(
        self, r: _CData, data: bytes, data_len: int, lens: _CData, n: int, /
    ) -> int: ...
    def anm_tx_batch(
        self,
        r: _CData,
        data: _CData,
        data_len: int,
        offs: _CData,
        lens: _CData,
        n: int,
        /,
    ) -> int: ...
    def anm_tx_space(self, r: _CData, /) -> int: ...
    # batchfmt.h: the format's length, or -1
    ANM_FORMAT_PER_FRAME: int
    def anm_batch_format(
        self, offs: _CData, lens: _CData, n: int, arena_size: int, out: _CData, outlen: int, /
    ) -> int: ...
    def anm_rx_pending(self, r: _CData, /) -> int: ...
    def anm_tx_pending(self, r: _CData, /) -> int: ...
    def anm_tx_in_flight(self, r: _CData, /) -> int: ...
    def anm_rings_same_pool(self, src: _CData, dst: _CData, /) -> int: ...
    def anm_forward(self, src: _CData, dst: _CData, max: int, /) -> int: ...

    # pipe.h
    def anm_pipe_region_size(self, slots: int, buf_size: int, /) -> int: ...
    def anm_pipe_format(
        self, base: _CData, size: int, slots: int, buf_size: int, err: _CData, errlen: int, /
    ) -> int: ...
    def anm_pipe_attach(
        self,
        p: _CData,
        base: _CData,
        size: int,
        end: int,
        own_fd: int,
        peer_fd: int,
        err: _CData,
        errlen: int,
        /,
    ) -> int: ...
    def anm_pipe_claim(self, p: _CData, from_state: int, pid: int, /) -> int: ...
    def anm_pipe_set_state(self, p: _CData, state: int, /) -> None: ...
    def anm_pipe_state(self, p: _CData, end: int, /) -> int: ...
    def anm_pipe_owner(self, p: _CData, end: int, /) -> int: ...
    def anm_pipe_txsync(self, p: _CData, r: _CData, /) -> int: ...
    def anm_pipe_rxsync(self, p: _CData, /) -> int: ...
    def anm_pipe_recv(
        self,
        p: _CData,
        r: _CData,
        arena: _CData,
        arena_len: int,
        offs: _CData,
        lens: _CData,
        max: int,
        /,
    ) -> int: ...
    def anm_pipe_forward(self, p: _CData, r: _CData, dst: _CData, max: int, /) -> int: ...
    def anm_pipe_clear(self, p: _CData, /) -> None: ...
    def anm_pipe_ready(self, p: _CData, /) -> int: ...
    def anm_pipe_counters(self, p: _CData, end: int, /) -> _CData: ...

ffi: _cffi_backend.FFI
lib: _Lib
