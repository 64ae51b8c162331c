"""Network namespaces and veth pairs for tests: the Linux kernel's own IP stack as the peer.

A :class:`VethLink` is two fresh namespaces joined by a veth pair. The *peer* namespace holds
the kernel end, with an address in a per-link test subnet (``10.x.y.1/24``); *our*
namespace holds the end a user-space stack drives through a packet port, with no address at
all: the address reserved for that stack (``10.x.y.2``) is never configured on any kernel
interface. No traffic ever touches the namespace the tests run in. Built on iproute2 (``ip``)
through a small wrapper; needs root.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

from aionetmap.ports._pipe_fds import pid_alive
from aionetmap.stack.addresses import format_mac

if TYPE_CHECKING:
    from aionetmap.ports.packet import PacketPort

__all__ = [
    "NETNS_PREFIX",
    "VethLink",
    "cleanup_leftovers",
    "delete_netns",
    "ip",
    "netns_exec",
]

NETNS_PREFIX: Final = "aionetmap-"
"""Every namespace created here is named ``aionetmap-<pid>-<n>-<role>``: the pid lets the
leftover guard tell a crashed run's namespaces from those of a run still going."""
_IF_PREFIX: Final = "anm"
_TIMEOUT: Final = 30.0
_counter = itertools.count(1)
_DISABLE_IPV6: Final = (
    "[ -d /proc/sys/net/ipv6 ] || exit 0; "  # a kernel without IPv6 has nothing to disable
    "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && "
    "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"
)


def ip(
    *args: str, netns: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``ip [-n NETNS] ARGS...``; raise ``RuntimeError`` with its stderr when it fails."""
    cmd = ["ip", *(("-n", netns) if netns else ()), *args]
    return _run(cmd, check=check, timeout=_TIMEOUT)


def netns_exec(
    netns: str, *cmd: str, check: bool = True, timeout: float = _TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a command inside a namespace (``ip netns exec``); output is captured as text."""
    return _run(["ip", "netns", "exec", netns, *cmd], check=check, timeout=timeout)


def _run(cmd: Sequence[str], *, check: bool, timeout: float) -> subprocess.CompletedProcess[str]:
    if shutil.which(cmd[0]) is None:
        raise RuntimeError(f"{cmd[0]!r} not found: install iproute2 (scripts/system-deps.sh)")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(cmd)}` failed with exit code {proc.returncode}: {proc.stderr.strip()}"
        )
    return proc


def _list_netns() -> list[str]:
    out = ip("-j", "netns", "list").stdout.strip()
    return [entry["name"] for entry in json.loads(out)] if out else []


def delete_netns(name: str) -> None:
    """Delete a namespace (and with it the veth end inside it); a missing one is fine."""
    ip("netns", "delete", name, check=False)


def cleanup_leftovers(*, include_own: bool = False) -> list[str]:
    """Delete aionetmap namespaces whose creating process is gone; return their names.

    Namespaces of runs still in progress (another pytest on the same machine) are left
    alone. ``include_own`` also removes this process's, for the end of a test session.
    """
    removed = []
    for name in _list_netns():
        if not name.startswith(NETNS_PREFIX):
            continue
        pid_text = name[len(NETNS_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if (pid == os.getpid() and include_own) or (pid != os.getpid() and not pid_alive(pid)):
            delete_netns(name)
            removed.append(name)
    return removed


class VethLink:
    """A veth pair between a kernel peer namespace and a namespace for our port.

    Use as a context manager (or call :meth:`create` and :meth:`close`); :meth:`close`
    deletes both namespaces, which also destroys the pair and every socket's interface.

    Attributes: ``peer_netns``/``our_netns`` (namespace names), ``peer_ifname``/
    ``our_ifname``, ``peer_ip`` (on the kernel end), ``our_ip`` (reserved for the user-space
    stack, configured nowhere), ``prefixlen``, ``peer_mac``/``our_mac`` (6 bytes each).

    Offloads: by default (``checksum_offload=True``) the pair keeps the kernel's settings,
    as a user's veth has them: TX checksum offload is on, so the UDP datagrams the kernel
    end sends carry only a partial checksum (the pseudo-header sum the NIC is supposed to
    finish; AF_PACKET flags them ``TP_STATUS_CSUMNOTREADY``). The kernel still verifies
    every checksum a packet port sends it (such frames never claim to be checked).
    ``checksum_offload=False`` turns TX and RX checksum offload off on the kernel end: it
    then sends complete checksums and verifies everything in software, a strict peer.
    IPv6 is disabled in both namespaces: no router solicitations or DAD probes show up
    among the test's frames. ``ipv6=True`` keeps it on at the kernel peer, which then
    also holds ``peer_ip6`` (``our_ip6`` is reserved for the user-space stack, same
    ``prefixlen6``); our namespace's kernel keeps IPv6 off either way, so nothing but
    the user-space stack speaks from our end.
    """

    def __init__(
        self, *, mtu: int = 1500, checksum_offload: bool = True, ipv6: bool = False
    ) -> None:
        pid, seq = os.getpid(), next(_counter)
        base = f"{NETNS_PREFIX}{pid}-{seq}"
        self.peer_netns = f"{base}-peer"
        self.our_netns = f"{base}-ours"
        tag = f"{_IF_PREFIX}{pid:x}{seq:x}"[:14]  # IFNAMSIZ: 15 bytes + NUL
        self.peer_ifname = f"{tag}k"
        self.our_ifname = f"{tag}u"
        index = (pid * 4099 + seq) % 65536
        x, y = divmod(index, 256)
        self.prefixlen = 24
        self.peer_ip = f"10.{x}.{y}.1"
        self.our_ip = f"10.{x}.{y}.2"
        self.peer_mac = bytes([0x02, 0xA1, x, y, 0x00, 0x01])
        self.our_mac = bytes([0x02, 0xA1, x, y, 0x00, 0x02])
        self.ipv6 = ipv6
        self.prefixlen6 = 64
        # In canonical form, as the kernel and the stack print them (a zero group of the
        # subnet, y == 0, would otherwise read "…:0::1" where they read "…::1").
        self.peer_ip6 = str(ipaddress.IPv6Address(f"fd00:a1:{x:x}:{y:x}::1"))
        self.our_ip6 = str(ipaddress.IPv6Address(f"fd00:a1:{x:x}:{y:x}::2"))
        self.mtu = mtu
        self.checksum_offload = checksum_offload
        self._sockets: list[socket.socket] = []
        self._created = False

    def __repr__(self) -> str:
        return (
            f"<VethLink {self.peer_netns}/{self.peer_ifname} {self.peer_ip} <-> "
            f"{self.our_netns}/{self.our_ifname} (ours: {self.our_ip})>"
        )

    # --- lifecycle ------------------------------------------------------------------------

    def create(self) -> Self:
        """Create both namespaces and the pair; on any failure, remove what was made."""
        self._created = True
        try:
            for ns in (self.peer_netns, self.our_netns):
                ip("netns", "add", ns)
                # Before any interface exists, so new ones start with IPv6 off as well
                # (plain sh, not sysctl(8): procps is not on every minimal image).
                if not (self.ipv6 and ns == self.peer_netns):
                    netns_exec(ns, "sh", "-c", _DISABLE_IPV6)
                ip("link", "set", "lo", "up", netns=ns)
            ip("link", "add", self.peer_ifname, "address", format_mac(self.peer_mac),
               "mtu", str(self.mtu), "type", "veth", "peer", "name", self.our_ifname,
               "address", format_mac(self.our_mac), "mtu", str(self.mtu),
               "netns", self.our_netns, netns=self.peer_netns)  # fmt: skip
            if not self.checksum_offload:
                self._offloads_off()
            ip("addr", "add", f"{self.peer_ip}/{self.prefixlen}", "dev", self.peer_ifname,
               netns=self.peer_netns)  # fmt: skip
            if self.ipv6:  # nodad: usable at once, and never a DAD probe among our frames
                ip("addr", "add", f"{self.peer_ip6}/{self.prefixlen6}", "dev",
                   self.peer_ifname, "nodad", netns=self.peer_netns)  # fmt: skip
            ip("link", "set", self.peer_ifname, "up", netns=self.peer_netns)
            ip("link", "set", self.our_ifname, "up", netns=self.our_netns)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Close the peer sockets handed out and delete both namespaces. Idempotent."""
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        if self._created:
            self._created = False
            delete_netns(self.peer_netns)
            delete_netns(self.our_netns)

    def __enter__(self) -> Self:
        return self.create()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _offloads_off(self) -> None:
        from aionetmap.ports.packet import set_checksum_offload

        with self.peer_socket(socket.AF_INET, socket.SOCK_DGRAM, track=False) as sock:
            set_checksum_offload(sock, self.peer_ifname, False)

    # --- helpers for tests ----------------------------------------------------------------

    def peer_exec(
        self, *cmd: str, check: bool = True, timeout: float = _TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the kernel peer's namespace (``ping``, ``arping``, ``ip neigh``)."""
        return netns_exec(self.peer_netns, *cmd, check=check, timeout=timeout)

    def peer_socket(
        self,
        family: int = socket.AF_INET,
        type: int = socket.SOCK_DGRAM,
        proto: int = 0,
        *,
        track: bool = True,
    ) -> socket.socket:
        """A kernel socket living in the peer namespace, usable from this process.

        It is closed by :meth:`close` unless the caller closed it first (``track=False``:
        the caller alone owns it).
        """
        from aionetmap.ports.packet import netns_socket

        sock = netns_socket(self.peer_netns, family, type, proto, what=str(self))
        if track:
            self._sockets.append(sock)
        return sock

    def teach_peer(self, ip_addr: str | None = None, mac: bytes | None = None) -> None:
        """Tell the kernel peer which MAC owns ``ip_addr`` (default: our IP and MAC), so it
        sends to us without ARP resolving first."""
        addr = ip_addr or self.our_ip
        lladdr = format_mac(mac or self.our_mac)
        ip("neigh", "replace", addr, "lladdr", lladdr, "dev", self.peer_ifname, "nud",
           "permanent", netns=self.peer_netns)  # fmt: skip

    def open_port(self, **kwargs: Any) -> PacketPort:
        """Open a :class:`~aionetmap.ports.packet.PacketPort` on our end (``kwargs`` go to
        :meth:`PacketPort.open`). The caller closes it."""
        from aionetmap.ports.packet import PacketPort

        return PacketPort.open(self.our_ifname, netns=self.our_netns, **kwargs)
