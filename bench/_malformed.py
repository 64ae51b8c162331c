"""A trickle of malformed frames for the soak (``python -m bench._malformed``, run inside the
peer namespace): each one something a host must drop and count, sent round-robin at a low
rate on an AF_PACKET socket. Prints ``RESULT {json}`` with what it sent, by kind.

Written for the bench (it must not import the tests); the cases follow the ideas of
``tests/integration/malformed_*.py``: one header field wrong at a time.

    python -m bench._malformed --ifname veth0 --src-mac M --dst-mac M --src-ip A \\
        --dst-ip B --port 7000 --rate 10 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CASES", "Flow", "main"]


@dataclass(frozen=True)
class Flow:
    src_mac: bytes
    dst_mac: bytes
    src_ip: bytes
    dst_ip: bytes
    port: int


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def _eth(f: Flow, ethertype: int, payload: bytes) -> bytes:
    frame = f.dst_mac + f.src_mac + struct.pack("!H", ethertype) + payload
    return frame.ljust(60, b"\0")


def _ip(f: Flow, payload: bytes, proto: int = 17, first: int = 0x45) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", first, 0, 20 + len(payload), 0x1234, 0x4000, 64,
                         proto, 0, f.src_ip, f.dst_ip)  # fmt: skip
    return header[:10] + struct.pack("!H", _csum(header)) + header[12:] + payload


def _udp(f: Flow, payload: bytes, port: int | None = None, bad_sum: bool = False) -> bytes:
    length = 8 + len(payload)
    dport = f.port if port is None else port
    pseudo = f.src_ip + f.dst_ip + struct.pack("!BBH", 0, 17, length)
    head = struct.pack("!HHHH", 9999, dport, length, 0)
    csum = _csum(pseudo + head + payload) or 0xFFFF
    return struct.pack("!HHHH", 9999, dport, length, csum ^ (0x5A5A if bad_sum else 0)) + payload


def _patch(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


_PAYLOAD = b"soak-malformed!!"
_IP = 14  # offset of the IPv4 header in a frame


def _good(f: Flow) -> bytes:
    return _eth(f, 0x0800, _ip(f, _udp(f, _PAYLOAD)))


CASES: dict[str, Callable[[Flow], bytes]] = {
    # IPv4 header shorter than 20 bytes (the frame is padded, the length says so)
    "ip_truncated": lambda f: f.dst_mac + f.src_mac + b"\x08\x00" + _ip(f, b"")[:12],
    "ip_bad_version": lambda f: _patch(_good(f), _IP, b"\x65"),
    "ip_bad_ihl": lambda f: _patch(_good(f), _IP, b"\x44"),
    "ip_bad_total_length": lambda f: _patch(_good(f), _IP + 2, struct.pack("!H", 400)),
    "ip_bad_checksum": lambda f: _patch(_good(f), _IP + 10, b"\xde\xad"),
    "udp_bad_length": lambda f: _eth(
        f, 0x0800, _ip(f, _patch(_udp(f, _PAYLOAD), 4, struct.pack("!H", 200)))
    ),
    "udp_bad_checksum": lambda f: _eth(f, 0x0800, _ip(f, _udp(f, _PAYLOAD, bad_sum=True))),
    "udp_no_listener": lambda f: _eth(f, 0x0800, _ip(f, _udp(f, _PAYLOAD, port=f.port + 1))),
    "eth_unsupported_type": lambda f: _eth(f, 0x88B5, _PAYLOAD),
    "arp_truncated": lambda f: _eth(f, 0x0806, b"\x00\x01\x08\x00\x06\x04")[:20],
}
"""Kind (named after what is wrong with the frame) -> builder. The server's drop reason
may differ: a total length past the frame's end is a truncated packet to Linux, say."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench._malformed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--ifname", required=True)
    p.add_argument("--src-mac", required=True)
    p.add_argument("--dst-mac", required=True)
    p.add_argument("--src-ip", required=True)
    p.add_argument("--dst-ip", required=True)
    p.add_argument("--port", type=int, required=True, help="the echo port (listened on)")
    p.add_argument("--rate", type=float, default=10.0, help="frames per second")
    p.add_argument("--seconds", type=float, required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    flow = Flow(
        bytes.fromhex(args.src_mac.replace(":", "")),
        bytes.fromhex(args.dst_mac.replace(":", "")),
        socket.inet_aton(args.src_ip),
        socket.inet_aton(args.dst_ip),
        args.port,
    )
    frames = [(kind, build(flow)) for kind, build in CASES.items()]
    sent = dict.fromkeys(CASES, 0)
    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((args.ifname, 0))
        start = time.monotonic()
        k = 0
        while not stop and time.monotonic() - start < args.seconds:
            kind, frame = frames[k % len(frames)]
            sock.send(frame)
            sent[kind] += 1
            k += 1
            # On schedule: frame k is due at start + k / rate.
            time.sleep(max(0.0, start + k / args.rate - time.monotonic()))
    print("RESULT " + json.dumps({"mode": "malformed", "count": k, "sent": sent}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
