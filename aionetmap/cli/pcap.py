"""Classic libpcap files: what ``python -m aionetmap capture`` writes, and a reader for them.

netmap ports bypass the kernel's packet taps, so ``tcpdump -i eth0`` sees nothing while a
netmap program owns ``eth0``. Writing the frames we receive to a standard pcap file lets
tcpdump, Wireshark and scapy read them afterwards (``tcpdump -r FILE``).

Format (the ``pcap-savefile`` manual page): a 24-byte file header (magic, version 2.4,
time zone 0, accuracy 0, snapshot length, link type), then per frame a 16-byte record header
(seconds, micro- or nanoseconds, captured length, original length) and the captured bytes.
Files are written little-endian; the reader accepts either byte order and both timestamp
resolutions.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

from aionetmap.ports.closing import ClosingContext

__all__ = [
    "DEFAULT_SNAPLEN",
    "LINKTYPE_ETHERNET",
    "PcapError",
    "PcapReader",
    "PcapRecord",
    "PcapWriter",
    "read_pcap",
]

LINKTYPE_ETHERNET: Final = 1
DEFAULT_SNAPLEN: Final = 262144
"""tcpdump's default snapshot length: whole frames, jumbo or not, are kept."""
MAX_SNAPLEN: Final = 0x40000
"""The largest snapshot length we write or trust when reading (libpcap's own limit)."""

_MAGIC_USEC: Final = 0xA1B2C3D4
_MAGIC_NSEC: Final = 0xA1B23C4D
_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


class PcapError(ValueError):
    """A file that is not a pcap file, or one that is damaged or truncated."""


@dataclass(frozen=True, slots=True)
class PcapRecord:
    """One captured frame."""

    timestamp_ns: int
    """Capture time, nanoseconds since the Unix epoch (microsecond files: a multiple of 1000)."""
    data: bytes
    """The captured bytes (at most the file's snapshot length)."""
    orig_len: int
    """Length of the frame on the wire (larger than ``len(data)`` when it was cut)."""

    @property
    def timestamp(self) -> float:
        """Capture time in seconds since the epoch."""
        seconds, nanoseconds = divmod(self.timestamp_ns, 1_000_000_000)
        return seconds + nanoseconds / 1e9  # dividing the whole int would lose the last digits


class PcapWriter(ClosingContext):
    """Write Ethernet frames to a pcap file.

    ``file`` is a path (created or truncated) or a binary stream opened for writing (then
    the caller closes it; :meth:`close` only flushes). Timestamps default to the current
    time; ``nanosecond=True`` writes the nanosecond variant of the format, which tcpdump
    and scapy read too. Frames longer than ``snaplen`` are cut, keeping their original
    length in the record, as tcpdump does.
    """

    def __init__(
        self,
        file: str | os.PathLike[str] | BinaryIO,
        *,
        snaplen: int = DEFAULT_SNAPLEN,
        linktype: int = LINKTYPE_ETHERNET,
        nanosecond: bool = False,
    ) -> None:
        if not 0 < snaplen <= MAX_SNAPLEN:
            raise ValueError(f"pcap snapshot length must be in 1..{MAX_SNAPLEN}, got {snaplen}")
        if isinstance(file, (str, os.PathLike)):
            self._file: BinaryIO = open(file, "wb")  # noqa: SIM115 (closed by close())
            self._owns = True
        else:
            self._file, self._owns = file, False
        self.snaplen = snaplen
        self.nanosecond = nanosecond
        self.count = 0
        """Frames written so far."""
        self._divisor = 1 if nanosecond else 1000
        self._closed = False
        magic = _MAGIC_NSEC if nanosecond else _MAGIC_USEC
        try:
            self._file.write(_FILE_HEADER.pack(magic, 2, 4, 0, 0, snaplen, linktype))
        except BaseException:
            self.close()
            raise

    def write(self, frame: bytes | bytearray | memoryview, timestamp_ns: int | None = None) -> None:
        """Append one frame, stamped ``timestamp_ns`` (default: now)."""
        self._check_open()
        self._record(frame, *self._stamp(timestamp_ns))

    def write_many(
        self, frames: Iterable[bytes | bytearray | memoryview], timestamp_ns: int | None = None
    ) -> int:
        """Append frames that arrived together, all with one timestamp; return how many."""
        n = 0
        for frame in frames:
            if n == 0:  # checked once, and only if there is something to write
                self._check_open()
                seconds, fraction = self._stamp(timestamp_ns)
            self._record(frame, seconds, fraction)
            n += 1
        return n

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("write to a closed PcapWriter")

    def _stamp(self, timestamp_ns: int | None) -> tuple[int, int]:
        """(seconds, fraction in the file's unit) of ``timestamp_ns`` (default: now)."""
        if timestamp_ns is None:
            timestamp_ns = time.time_ns()
        if timestamp_ns < 0:
            raise ValueError(f"pcap timestamps cannot be before 1970, got {timestamp_ns} ns")
        seconds, fraction = divmod(timestamp_ns, 1_000_000_000)
        if seconds > 0xFFFFFFFF:
            raise ValueError(f"timestamp {timestamp_ns} ns does not fit a pcap record")
        return seconds, fraction // self._divisor

    def _record(self, frame: bytes | bytearray | memoryview, seconds: int, fraction: int) -> None:
        data = memoryview(frame).cast("B")
        kept = data[: self.snaplen]
        self._file.write(_RECORD.pack(seconds, fraction, len(kept), len(data)))
        self._file.write(kept)
        self.count += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._file.flush()
        finally:
            if self._owns:
                self._file.close()


class PcapReader(ClosingContext):
    """Read a pcap file (a path, or a binary stream the caller closes) record by record.

    The file header is read and checked at once: ``linktype``, ``snaplen`` and
    ``nanosecond`` describe the file. Iterating yields :class:`PcapRecord` objects and
    raises :class:`PcapError` for a record longer than the snapshot length or a file cut in
    the middle of a record. Either byte order and both timestamp resolutions are accepted.
    """

    def __init__(self, file: str | os.PathLike[str] | BinaryIO) -> None:
        if isinstance(file, (str, os.PathLike)):
            self._file: BinaryIO = open(file, "rb")  # noqa: SIM115 (closed by close())
            self._owns = True
            self.name = os.fspath(file)
        else:
            self._file, self._owns = file, False
            self.name = str(getattr(file, "name", "<stream>"))
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise

    def _read_header(self) -> None:
        head = self._file.read(_FILE_HEADER.size)
        if len(head) < _FILE_HEADER.size:
            raise PcapError(f"{self.name}: too short for a pcap file header ({len(head)} bytes)")
        order, self._scale = _byte_order(head[:4], self.name)
        fields = struct.unpack(order + _FILE_HEADER.format[1:], head)
        major, snaplen, self.linktype = fields[1], fields[5], fields[6]
        if major != 2:
            raise PcapError(f"{self.name}: unsupported pcap version {major}")
        self.snaplen: int = snaplen
        self.nanosecond = self._scale == 1
        # Trust no length from the file: a record may not exceed the snapshot length, and
        # that is capped too, so a damaged header cannot make us read gigabytes at once.
        self._limit = snaplen if 0 < snaplen <= MAX_SNAPLEN else MAX_SNAPLEN
        self._record = struct.Struct(order + _RECORD.format[1:])

    def __iter__(self) -> Iterator[PcapRecord]:
        record, limit, scale, name = self._record, self._limit, self._scale, self.name
        index = 0
        while True:
            raw = self._file.read(record.size)
            if not raw:
                return
            if len(raw) < record.size:
                raise PcapError(f"{name}: truncated header of record {index}")
            seconds, fraction, incl_len, orig_len = record.unpack(raw)
            if incl_len > limit:
                raise PcapError(
                    f"{name}: record {index} claims {incl_len} bytes, over the {limit}-byte limit"
                )
            if fraction * scale >= 1_000_000_000:
                raise PcapError(f"{name}: record {index} has an out-of-range sub-second field")
            data = self._file.read(incl_len)
            if len(data) < incl_len:
                raise PcapError(
                    f"{name}: record {index} is truncated ({len(data)} of {incl_len} bytes)"
                )
            yield PcapRecord(seconds * 1_000_000_000 + fraction * scale, data, orig_len)
            index += 1

    def close(self) -> None:
        """Close the file if this reader opened it."""
        if self._owns:
            self._file.close()


def read_pcap(file: str | os.PathLike[str] | BinaryIO) -> list[PcapRecord]:
    """Every record of a pcap file, in order (see :class:`PcapReader`)."""
    with PcapReader(file) as reader:
        return list(reader)


def _byte_order(magic: bytes, name: str) -> tuple[str, int]:
    """Struct byte-order prefix and nanoseconds per sub-second unit, from the magic number."""
    for order in ("<", ">"):
        (value,) = struct.unpack(order + "I", magic)
        if value == _MAGIC_USEC:
            return order, 1000
        if value == _MAGIC_NSEC:
            return order, 1
    raise PcapError(f"{name}: not a pcap file (magic {magic.hex()}); pcapng is not supported")
