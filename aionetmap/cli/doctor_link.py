"""The doctor's interface checks for ``netmap:IF`` and ``packet:IF``: the interface itself
(exists, up, MTU), netmap's adapter for it (native or emulated), and IPv6 on an interface
the user-space host will own; a veth's peer is checked by :mod:`.doctor_veth`."""

from __future__ import annotations

import os

from aionetmap.cli.doctor_env import Check, Env, read_int, read_text
from aionetmap.cli.doctor_veth import veth_checks
from aionetmap.portspec import NR_REG_SW, PortSpec

__all__ = [
    "NATIVE_DRIVERS",
    "adapter_mode",
    "driver_name",
    "interface_checks",
    "interface_state",
    "ipv6_chatter",
]

NATIVE_DRIVERS = frozenset(
    {
        "e1000",
        "e1000e",
        "forcedeth",
        "i40e",
        "ice",
        "igb",
        "igc",
        "ixgbe",
        "ixgbevf",
        "mlx5_core",
        "r8169",
        "stmmac",
        "veth",
        "virtio_net",
        "vmxnet3",
    }
)
"""Drivers netmap can patch for native mode (its man page and LINUX/configure's list)."""
_IFF_UP = 0x1
_ETH_HLEN = 14
_NETMAP_BUF_SIZE = 2048  # the module's default buf_size


def _netmap_param(env: Env, name: str) -> str | None:
    return read_text(env.sys / "module" / "netmap" / "parameters" / name)


def interface_state(env: Env, spec: PortSpec) -> Check:
    """Exists, administratively up, has a carrier, and its MTU fits the backend's buffers."""
    ifname, name = spec.nr_name, "interface"
    base = env.sys / "class" / "net" / ifname
    if not base.is_dir():
        return Check(
            name,
            "problem",
            f"no interface {ifname!r} in this network namespace",
            "check the name with `ip link` (or run in the interface's namespace: "
            "`ip netns exec NS python -m aionetmap doctor ...`)",
        )
    flags = read_int(base / "flags", 16) or 0
    mtu = read_int(base / "mtu")
    # carrier is the driver's own state, read directly; operstate follows it only after the
    # kernel's link-watch delay (up to a second after a link comes up).
    carrier = read_text(base / "carrier")
    if not flags & _IFF_UP:
        return Check(name, "problem", f"{ifname} is down (MTU {mtu})", f"`ip link set {ifname} up`")
    if carrier == "0":
        return Check(
            name,
            "warning",
            f"{ifname} is up but has no carrier (link down)",
            "check the cable or the veth peer (`ip link set PEER up`)",
        )
    if spec.subsystem == "netmap" and mtu is not None:
        buf = read_int(env.sys / "module" / "netmap" / "parameters" / "buf_size")
        buf = buf or _NETMAP_BUF_SIZE
        if mtu + _ETH_HLEN > buf:
            return Check(
                name,
                "warning",
                f"{ifname} is up, MTU {mtu}: frames of up to {mtu + _ETH_HLEN} "
                f"bytes do not fit netmap's {buf}-byte buffers, and a NIC's rings "
                "split them into fragments that aionetmap drops (counted)",
                f"`ip link set {ifname} mtu {buf - _ETH_HLEN}`, or load netmap "
                "with a larger buf_size (`modprobe netmap buf_size=N`)",
            )
    return Check(name, "ok", f"{ifname} is up, MTU {mtu}" + (", carrier on" if carrier else ""))


def driver_name(env: Env, ifname: str) -> str | None:
    """The driver behind ``ifname`` (``veth``, ``ixgbe``), or ``None`` if unknown."""
    return _driver(env, ifname)[0]


def _driver(env: Env, ifname: str) -> tuple[str | None, str | None]:
    """(driver name, kernel module name) of ``ifname``; sysfs first, then ethtool."""
    link = env.sys / "class" / "net" / ifname / "device" / "driver"
    try:
        driver: str | None = os.path.basename(os.readlink(link))
    except OSError:
        driver = None
    try:
        module: str | None = os.path.basename(os.readlink(link / "module"))
    except OSError:
        module = None
    driver = driver or env.links.driver(ifname)
    return driver, module or driver


def adapter_mode(env: Env, spec: PortSpec) -> Check:
    """Will netmap drive ``IF`` natively (a netmap-patched driver) or emulate it?

    A patched driver calls into the netmap module, so its kernel module shows up among
    netmap's holders; the ``admode`` parameter can force either mode (1 native, 2
    emulated)."""
    name, ifname = "netmap adapter", spec.nr_name
    driver, module = _driver(env, ifname)
    if driver is None:
        return Check(
            name,
            "warning",
            f"could not tell which driver runs {ifname}",
            f"check with `ethtool -i {ifname}`",
        )
    netmap = env.sys / "module" / "netmap"
    if not netmap.is_dir():
        has = "has" if driver in NATIVE_DRIVERS else "has no"
        return Check(
            name,
            "warning",
            f"{ifname} runs {driver}, which {has} native netmap support; which "
            "adapter netmap uses is known once the module is loaded",
            "load netmap and run the doctor again",
        )
    admode = _netmap_param(env, "admode") or "0"
    native = module is not None and (netmap / "holders" / module).exists()
    if admode == "2":
        return Check(
            name,
            "warning",
            f"netmap's admode=2 forces the emulated adapter on "
            f"{ifname} ({driver}): slower than native",
            "reload netmap with admode=0 (`modprobe netmap admode=0`)",
        )
    if native:
        return Check(name, "ok", f"{ifname} runs {driver}, patched for netmap: native mode")
    why = (
        f"{driver} is supported, but the loaded {module} is not netmap's patched build"
        if driver in NATIVE_DRIVERS
        else f"netmap has no native driver for {driver}"
    )
    fix = (
        f"build netmap with `./configure --drivers={driver}`, install, and reload {module}"
        if driver in NATIVE_DRIVERS
        else "fine for testing; for speed use a NIC netmap supports natively"
    )
    if admode == "1":
        return Check(
            name,
            "problem",
            f"{why}, and admode=1 allows native mode only: opening {ifname} fails",
            f"{fix}; or reload netmap with admode=0",
        )
    return Check(
        name,
        "warning",
        f"{why}: netmap will use its emulated (generic) adapter on "
        f"{ifname}, which is slower and works over the unmodified driver",
        fix,
    )


def ipv6_chatter(env: Env, spec: PortSpec) -> Check:
    """IPv6 on an interface the user-space host owns: the kernel's router solicitations,
    MLD reports and DAD probes are frames the port receives and the fd wakes for."""
    name, ifname = "IPv6", spec.nr_name
    value = read_text(env.proc / "sys" / "net" / "ipv6" / "conf" / ifname / "disable_ipv6")
    if value is None or value == "1":
        return Check(name, "ok", f"IPv6 is off on {ifname}")
    return Check(
        name,
        "warning",
        f"IPv6 is on for {ifname}: router solicitations, MLD reports and DAD "
        "probes reach the port and wake its fd for frames the stack drops",
        f"`sysctl -w net.ipv6.conf.{ifname}.disable_ipv6=1`",
    )


def interface_checks(env: Env, spec: PortSpec) -> list[Check]:
    """The interface checks for ``netmap:IF`` or ``packet:IF``; only the first when ``IF``
    is missing. Host-ring-only netmap ports (``^``) skip the IPv6 check: what they carry
    is the kernel's own traffic, by design."""
    state = interface_state(env, spec)
    checks = [state]
    if not (env.sys / "class" / "net" / spec.nr_name).is_dir():
        return checks
    if spec.subsystem == "netmap":
        checks.append(adapter_mode(env, spec))
    if driver_name(env, spec.nr_name) == "veth":
        checks += veth_checks(env, spec)
    if spec.nr_mode != NR_REG_SW:
        checks.append(ipv6_chatter(env, spec))
    return checks
