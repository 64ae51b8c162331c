"""The doctor's checks of a veth's other end, which sends the frames the port receives:
its TX checksum offload and its IPv6 chatter. The peer is found by its interface index, in
this namespace through sysfs or in a named one through ``ip``."""

from __future__ import annotations

from dataclasses import dataclass

from aionetmap.cli.doctor_env import Check, Env, read_int, read_text
from aionetmap.portspec import PortSpec

__all__ = ["veth_checks", "veth_peer_ipv6", "veth_peer_offload"]


@dataclass(frozen=True, slots=True)
class _Peer:
    ifname: str
    netns: str | None  # None: this namespace


def _find_peer(env: Env, ifname: str) -> _Peer | str:
    """The other end of veth ``ifname``: in this namespace by sysfs, else through the
    namespace id ``ip`` reports (it must be a named namespace). A str says why not."""
    base = env.sys / "class" / "net"
    ours, peer_index = read_int(base / ifname / "ifindex"), read_int(base / ifname / "iflink")
    if ours is None or peer_index is None:
        return f"{ifname} reports no peer interface"
    # Two namespaces number their interfaces independently: the peer's index may equal ours.
    for entry in sorted(base.iterdir()) if base.is_dir() else []:
        if entry.name == ifname:
            continue
        if read_int(entry / "ifindex") == peer_index and read_int(entry / "iflink") == ours:
            return _Peer(entry.name, None)
    link = env.ip(["-d", "link", "show", "dev", ifname])
    nsid = link[0].get("link_netnsid") if link else None
    names = {e.get("nsid"): e.get("name") for e in env.ip(["netns", "list-id"]) or []}
    netns = names.get(nsid) if nsid is not None else None
    if netns is None:
        return f"the peer of {ifname} is in another network namespace that has no name"
    for entry in env.ip(["-n", netns, "link", "show"]) or []:
        if entry.get("ifindex") == peer_index:
            return _Peer(str(entry.get("ifname")), netns)
    return f"interface {peer_index} not found in namespace {netns}"


def veth_peer_offload(env: Env, spec: PortSpec, peer: _Peer) -> Check:
    """Does the peer send partial checksums (TX checksum offload on)?

    Over a veth nothing finishes an offloaded checksum. AF_PACKET flags such frames and the
    stack accepts them; netmap has no such flag, so the stack sees a bad checksum and drops
    them."""
    name = "veth peer offload"
    where = f" in namespace {peer.netns}" if peer.netns else ""
    on = env.links.tx_csum(peer.ifname, peer.netns)
    if on is None:
        return Check(
            name,
            "warning",
            f"could not read TX checksum offload of {peer.ifname}{where}",
            f"check `ethtool -k {peer.ifname}`",
        )
    if not on:
        return Check(name, "ok", f"peer {peer.ifname}{where} sends full checksums (tx off)")
    if spec.subsystem == "packet":
        return Check(
            name,
            "ok",
            f"peer {peer.ifname}{where} offloads TX checksums; AF_PACKET "
            "flags those partial checksums and the stack accepts them",
        )
    run = f"ip netns exec {peer.netns} " if peer.netns else ""
    return Check(
        name,
        "warning",
        f"peer {peer.ifname}{where} offloads TX checksums: its frames cross the veth "
        "with partial checksums, netmap cannot flag them, and the stack drops them "
        "as bad (counted)",
        f"`{run}ethtool -K {peer.ifname} tx off`",
    )


def veth_peer_ipv6(env: Env, peer: _Peer) -> Check:
    """IPv6 on the peer: its router solicitations, MLD reports and DAD probes all cross
    the veth to the port, which wakes for frames the stack only drops."""
    name = "veth peer IPv6"
    where = f" in namespace {peer.netns}" if peer.netns else ""
    conf = f"sys/net/ipv6/conf/{peer.ifname}/disable_ipv6"
    if peer.netns is None:
        value = read_text(env.proc / conf)
    else:
        value = env.read_in(peer.netns, f"/proc/{conf}")
    if value is None or value == "1":
        return Check(name, "ok", f"IPv6 is off on peer {peer.ifname}{where}")
    run = f"ip netns exec {peer.netns} " if peer.netns else ""
    return Check(
        name,
        "warning",
        f"IPv6 is on for peer {peer.ifname}{where}: its router solicitations, MLD reports "
        "and DAD probes cross the veth and wake the port for frames the stack drops",
        f"`{run}sysctl -w net.ipv6.conf.{peer.ifname}.disable_ipv6=1`",
    )


def veth_checks(env: Env, spec: PortSpec) -> list[Check]:
    """The peer's checks for veth ``IF`` (one warning if the peer cannot be found)."""
    peer = _find_peer(env, spec.nr_name)
    if isinstance(peer, str):
        return [
            Check(
                "veth peer",
                "warning",
                f"could not check the peer's checksum offload and IPv6: {peer}",
                "on the peer: `ethtool -K PEER tx off` and "
                "`sysctl -w net.ipv6.conf.PEER.disable_ipv6=1`",
            )
        ]
    return [veth_peer_offload(env, spec, peer), veth_peer_ipv6(env, peer)]
