"""Regenerate the golden frames in this directory with scapy (an independent builder).

Run ``.venv/bin/python tests/data/frames/make_frames.py`` from the repository root. Each
``<name>.hex`` holds one Ethernet frame as hex, after ``#`` lines naming the scapy
expression that built it. The stack's own builders must reproduce these bytes exactly and
its parsers must read them back (tests/stack/test_golden.py).
"""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import ICMP, IP, UDP, IPOption_Router_Alert
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet

__all__ = ["FRAMES", "main"]

A_MAC, B_MAC, BCAST = "02:00:00:00:00:01", "02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff"
A_IP, B_IP = "10.0.0.1", "10.0.0.2"
_UDP_IP = IP(src=A_IP, dst=B_IP, id=0x1234, flags="DF", ttl=64)
_OFFENDING = IP(src=B_IP, dst=A_IP, id=7, flags="DF", ttl=64) / UDP(sport=5353, dport=9) / b"x"

FRAMES: dict[str, Packet] = {
    "arp_request": Ether(dst=BCAST, src=A_MAC)
    / ARP(op=1, hwsrc=A_MAC, psrc=A_IP, hwdst="00:00:00:00:00:00", pdst=B_IP),
    "arp_reply": Ether(dst=A_MAC, src=B_MAC)
    / ARP(op=2, hwsrc=B_MAC, psrc=B_IP, hwdst=A_MAC, pdst=A_IP),
    "arp_gratuitous": Ether(dst=BCAST, src=A_MAC)
    / ARP(op=1, hwsrc=A_MAC, psrc=A_IP, hwdst="00:00:00:00:00:00", pdst=A_IP),
    "udp": Ether(dst=B_MAC, src=A_MAC) / _UDP_IP / UDP(sport=40000, dport=53) / b"hello golden!",
    "udp_empty": Ether(dst=B_MAC, src=A_MAC) / _UDP_IP / UDP(sport=1, dport=65535),
    "udp_zero_checksum": Ether(dst=B_MAC, src=A_MAC)
    / _UDP_IP
    / UDP(sport=40000, dport=53, chksum=0)
    / b"no checksum",
    "udp_vlan": Ether(dst=B_MAC, src=A_MAC)
    / Dot1Q(vlan=100, prio=5)
    / _UDP_IP
    / UDP(sport=40000, dport=53)
    / b"tagged",
    "udp_ip_options": Ether(dst=B_MAC, src=A_MAC)
    / IP(src=A_IP, dst=B_IP, id=0x1234, flags="DF", ttl=64, options=[IPOption_Router_Alert()])
    / UDP(sport=40000, dport=53)
    / b"options",
    "icmp_echo_request": Ether(dst=B_MAC, src=A_MAC)
    / IP(src=A_IP, dst=B_IP, id=1, flags="DF", ttl=64)
    / ICMP(type=8, code=0, id=0xBEEF, seq=1)
    / b"ping payload",
    "icmp_echo_reply": Ether(dst=A_MAC, src=B_MAC)
    / IP(src=B_IP, dst=A_IP, id=2, flags="DF", ttl=64)
    / ICMP(type=0, code=0, id=0xBEEF, seq=1)
    / b"ping payload",
    "icmp_port_unreachable": Ether(dst=B_MAC, src=A_MAC)
    / IP(src=A_IP, dst=B_IP, id=3, flags="DF", ttl=64)
    / ICMP(type=3, code=3)
    / bytes(_OFFENDING),
}


def _render(name: str, packet: Packet) -> str:
    raw = bytes(packet)
    lines = [f"# {name}: built by tests/data/frames/make_frames.py with scapy", f"# {packet!r}"]
    lines += [raw[i : i + 16].hex(" ") for i in range(0, len(raw), 16)]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Write every frame of :data:`FRAMES` next to this file."""
    here = Path(__file__).parent
    for name, packet in FRAMES.items():
        (here / f"{name}.hex").write_text(_render(name, packet))


if __name__ == "__main__":
    main()
