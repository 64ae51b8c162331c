"""pcap files: our writer read back by scapy (the tcpdump stand-in), scapy's files read by our
reader, damaged files refused, and ``capture`` writing what a port really received."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapReader as ScapyReader
from scapy.utils import rdpcap, wrpcap

from aionetmap.cli import commands
from aionetmap.cli.pcap import (
    LINKTYPE_ETHERNET,
    PcapError,
    PcapReader,
    PcapRecord,
    PcapWriter,
    read_pcap,
)
from aionetmap.ports import open_port
from aionetmap.testing.netns import VethLink

ROOT = Path(__file__).resolve().parents[2]
_names = itertools.count()


def _frames(n: int) -> list[bytes]:
    return [
        bytes(
            Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            / IP(src="10.0.0.1", dst="10.0.0.2")
            / UDP(sport=1000 + i, dport=7)
            / (b"payload %d " % i * (i + 1))
        )
        for i in range(n)
    ]


# ---- the file format ---------------------------------------------------------------------


def test_scapy_reads_what_we_write(tmp_path: Path) -> None:
    frames = _frames(5)
    stamps = [1_700_000_000_123_456_000 + i * 1_000_000 for i in range(5)]
    path = tmp_path / "w.pcap"
    with PcapWriter(path) as writer:
        for frame, stamp in zip(frames, stamps, strict=True):
            writer.write(frame, stamp)
        assert writer.count == 5
    packets = rdpcap(str(path))
    assert [bytes(p) for p in packets] == frames
    assert [int(p.time * 1_000_000) for p in packets] == [s // 1000 for s in stamps]
    assert packets[3][UDP].sport == 1003
    with ScapyReader(str(path)) as reader:
        assert reader.linktype == LINKTYPE_ETHERNET


def test_nanosecond_files_keep_nanoseconds(tmp_path: Path) -> None:
    path = tmp_path / "ns.pcap"
    stamp = 1_700_000_000_123_456_789
    with PcapWriter(path, nanosecond=True) as writer:
        writer.write(_frames(1)[0], stamp)
    (packet,) = rdpcap(str(path))
    assert packet.time == pytest.approx(stamp / 1e9, abs=1e-9)
    with PcapReader(path) as reader:
        assert reader.nanosecond
        (record,) = list(reader)
    assert record.timestamp_ns == stamp


def test_we_read_what_scapy_writes(tmp_path: Path) -> None:
    frames = _frames(4)
    path = tmp_path / "scapy.pcap"
    wrpcap(str(path), [Ether(f) for f in frames])
    records = read_pcap(path)
    assert [r.data for r in records] == frames
    assert [r.orig_len for r in records] == [len(f) for f in frames]


def test_big_endian_files_are_read(tmp_path: Path) -> None:
    frame = _frames(1)[0]
    blob = struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    blob += struct.pack(">IIII", 1_600_000_000, 250_000, len(frame), len(frame)) + frame
    (record,) = read_pcap(io.BytesIO(blob))
    assert record == PcapRecord(1_600_000_000_250_000_000, frame, len(frame))
    assert record.timestamp == 1_600_000_000.25


def test_snaplen_cuts_frames_and_keeps_the_original_length(tmp_path: Path) -> None:
    frame = _frames(3)[2]
    path = tmp_path / "cut.pcap"
    with PcapWriter(path, snaplen=40) as writer:
        writer.write(frame, 0)
    (record,) = read_pcap(path)
    assert record.data == frame[:40]
    assert record.orig_len == len(frame) > 40
    (packet,) = rdpcap(str(path))
    assert packet.wirelen == len(frame)


def test_writing_to_a_stream_leaves_it_open() -> None:
    stream = io.BytesIO()
    frames = _frames(3)
    with PcapWriter(stream) as writer:
        assert writer.write_many(frames, 5_000_000_000) == 3
    assert not stream.closed
    stream.seek(0)
    assert [(r.data, r.timestamp_ns) for r in read_pcap(stream)] == [
        (f, 5_000_000_000) for f in frames
    ]


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        pytest.param(b"\xd4\xc3\xb2", "too short", id="short-header"),
        pytest.param(b"\x0a\x0d\x0d\x0a" + bytes(20), "not a pcap file", id="pcapng"),
        pytest.param(
            struct.pack("<IHHiIII", 0xA1B2C3D4, 3, 0, 0, 0, 65535, 1), "version", id="version"
        ),
        pytest.param(
            struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 100, 1)
            + struct.pack("<IIII", 0, 0, 101, 101),
            "over the 100-byte limit",
            id="record-over-snaplen",
        ),
        pytest.param(
            struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 0xFFFFFFFF, 1)
            + struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 0x7FFFFFFF),
            "over the 262144-byte limit",
            id="huge-record-bad-snaplen",
        ),
        pytest.param(
            struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
            + struct.pack("<IIII", 0, 1_000_000, 1, 1)
            + b"x",
            "sub-second",
            id="usec-out-of-range",
        ),
        pytest.param(
            struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + b"\x00" * 10,
            "truncated header",
            id="cut-record-header",
        ),
        pytest.param(
            struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
            + struct.pack("<IIII", 0, 0, 60, 60)
            + b"x" * 59,
            "truncated (59 of 60 bytes)",
            id="cut-record-data",
        ),
    ],
)
def test_damaged_files_are_refused(blob: bytes, message: str) -> None:
    with pytest.raises(PcapError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_pcap(io.BytesIO(blob))


@pytest.mark.parametrize("snaplen", [0, -1, 0x40001])
def test_writer_rejects_bad_snapshot_lengths(snaplen: int) -> None:
    stream = io.BytesIO()
    with pytest.raises(ValueError, match="snapshot length"):
        PcapWriter(stream, snaplen=snaplen)
    assert stream.getvalue() == b""


def test_writer_rejects_bad_timestamps_and_use_after_close() -> None:
    writer = PcapWriter(io.BytesIO())
    with pytest.raises(ValueError, match="before 1970"):
        writer.write(b"x" * 14, -1)
    with pytest.raises(ValueError, match="does not fit"):
        writer.write(b"x" * 14, (1 << 32) * 1_000_000_000)
    assert writer.count == 0
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"x" * 14)


# ---- capture: frames a port receives, read back by scapy --------------------------------


async def _wait_for_text(stream: io.StringIO, text: str, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while text not in stream.getvalue():
            await asyncio.sleep(0.01)


async def test_capture_writes_exactly_count_frames_as_received(tmp_path: Path) -> None:
    name = f"cap{os.getpid()}x{next(_names)}"
    path = tmp_path / "pipe.pcap"
    err = io.StringIO()
    task = asyncio.create_task(
        commands.capture(f"pipe:{name}{{0", str(path), count=20, interval=None, err=err)
    )
    await _wait_for_text(err, "Ctrl-C to stop")
    frames = _frames(30)  # more than asked for: the capture must stop at 20
    with contextlib.closing(open_port(f"pipe:{name}}}0")) as sender:
        assert sender.send(frames) == 30
        sender.flush()
        assert await asyncio.wait_for(task, 10) == 0
    packets = rdpcap(str(path))
    assert [bytes(p) for p in packets] == frames[:20]
    assert "20 frames written" in err.getvalue()
    assert not [f for f in os.listdir("/dev/shm") if name in f]  # the pipe was removed


async def test_capture_stops_after_duration_with_a_summary(tmp_path: Path) -> None:
    name = f"cap{os.getpid()}x{next(_names)}"
    path = tmp_path / "idle.pcap"
    err = io.StringIO()
    rc = await commands.capture(
        f"pipe:{name}{{0", str(path), duration=0.3, interval=0.1, snaplen=64, err=err
    )
    assert rc == 0
    assert len(rdpcap(str(path))) == 0
    text = err.getvalue()
    assert "--- capture summary (done)" in text
    assert text.count("captured") >= 3  # live lines every 0.1 s, then the summary


async def test_capture_streams_to_standard_output(tmp_path: Path) -> None:
    name = f"cap{os.getpid()}x{next(_names)}"
    stdout, err = io.BytesIO(), io.StringIO()
    task = asyncio.create_task(
        commands.capture(
            f"pipe:{name}{{0", "-", count=3, nanosecond=True, interval=None, err=err,
            stdout=stdout,
        )
    )  # fmt: skip
    await _wait_for_text(err, "-> standard output, stopping after 3 frames")
    with contextlib.closing(open_port(f"pipe:{name}}}0")) as sender:
        sender.send(_frames(3))
        sender.flush()
        assert await asyncio.wait_for(task, 10) == 0
    stdout.seek(0)
    with PcapReader(stdout) as reader:
        assert reader.nanosecond
        assert [r.data for r in reader] == _frames(3)


# ---- capture on a real link: the Linux kernel's frames (root; runs in CI) ----------------


@pytest.mark.netns
def test_capture_cli_on_veth_sees_kernel_pings(veth: VethLink, tmp_path: Path) -> None:
    path = tmp_path / "veth.pcap"
    veth.teach_peer()  # the kernel sends ICMP straight away, no ARP first
    cmd = ["ip", "netns", "exec", veth.our_netns, sys.executable, "-m", "aionetmap", "capture",
           f"packet:{veth.our_ifname}", "-w", str(path), "-c", "3"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        assert "Ctrl-C to stop" in proc.stderr.readline()
        veth.peer_exec("ping", "-c", "3", "-i", "0.2", "-W", "1", veth.our_ip, check=False)
        try:
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=10)
        assert proc.returncode == 0, proc.stderr.read()
    packets = rdpcap(str(path))
    assert len(packets) == 3
    for packet in packets:
        assert packet[IP].src == veth.peer_ip
        assert packet[IP].dst == veth.our_ip
        assert packet[ICMP].type == 8  # echo request
