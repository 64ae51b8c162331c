"""``aionetmap doctor``: every check gives its warning or problem when provoked.

Interface checks run the real command inside a veth pair's namespace (``ip netns exec``);
the netmap checks, with no netmap module on this machine, run against a fake ``/sys`` tree,
``/dev/null`` standing in for the device and a fake syscall layer for the API request.
Permission checks drop to an unprivileged effective user for the duration of the check.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aionetmap._native._netmap import ffi as nmffi
from aionetmap._native._netmap import lib as nm
from aionetmap._native._packet import ffi as pkt_ffi
from aionetmap._native._packet import lib as pkt
from aionetmap.cli import main as cli
from aionetmap.cli.doctor import Check, Env, doctor, run_checks, worst
from aionetmap.cli.doctor_link import adapter_mode
from aionetmap.cli.doctor_system import api_version, cap_net_raw, device_permissions, shm_space
from aionetmap.ports.packet import netns_socket
from aionetmap.ports.probe import LinkProbe
from aionetmap.portspec import parse_portspec
from aionetmap.testing.netns import VethLink, ip, netns_exec
from aionetmap.testing.pytest_plugin import require_root

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
NOBODY = 65534


def run_in(netns: str, *args: str) -> tuple[int, dict[str, Check]]:
    """``python -m aionetmap doctor ARGS --json`` inside ``netns``: exit status and checks."""
    argv = [sys.executable, "-m", "aionetmap", "doctor", *args, "--json"]
    proc = netns_exec(netns, "env", f"PYTHONPATH={ROOT}", *argv, check=False, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    checks = {c["name"]: Check(**c) for c in doc["checks"]}
    assert doc["verdict"] == worst(list(checks.values()))
    return proc.returncode, checks


@contextlib.contextmanager
def as_nobody() -> Iterator[None]:
    """Run the body with effective uid/gid ``nobody``: no capabilities, no DAC override."""
    require_root()
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's tmp_path sits under a root-only one)."""
    path = Path(tempfile.mkdtemp(prefix="aionetmap-doctor-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def fake_env(tmp_path: Path, **kw: Any) -> Env:
    sysfs = tmp_path / "sys"
    (sysfs / "class" / "net").mkdir(parents=True, exist_ok=True)
    defaults: dict[str, Any] = {"sys": sysfs, "device": tmp_path / "netmap"}
    return Env(**{**defaults, **kw})


def load_fake_netmap(env: Env, admode: str = "0", holders: tuple[str, ...] = ()) -> None:
    params = env.sys / "module" / "netmap" / "parameters"
    params.mkdir(parents=True)
    (params / "admode").write_text(admode + "\n")
    (env.sys / "module" / "netmap" / "holders").mkdir()
    for name in holders:
        (env.sys / "module" / "netmap" / "holders" / name).mkdir()


# ---- the netmap module, its API version and its device ----------------------------------


def test_no_module_is_a_problem_for_netmap_and_a_warning_otherwise(tmp_path: Path) -> None:
    env = fake_env(tmp_path)
    (check,) = run_checks(parse_portspec("vale0:p1"), env)
    assert (check.name, check.verdict) == ("netmap module", "problem")
    assert check.fix is not None
    assert "modprobe netmap" in check.fix
    assert "packet:" in check.fix
    general = run_checks(None, env)
    assert general[0].verdict == "warning"
    out = io.StringIO()
    assert doctor("vale0:p1", env=env, out=out) == 1
    assert "PROBLEM" in out.getvalue()
    assert "fix: load it with `modprobe netmap`" in out.getvalue()


def test_module_loaded_without_device_is_a_problem(tmp_path: Path) -> None:
    env = fake_env(tmp_path)
    load_fake_netmap(env)
    (check,) = run_checks(parse_portspec("netmap:x{1"), env)
    assert check.verdict == "problem"
    assert "loaded but" in check.detail


class FakeNetmap:
    """The syscalls of :class:`NetmapSyscalls` the API check makes, answering ``err``."""

    def __init__(self, err: int = 0) -> None:
        self.err = err
        self.requests: list[tuple[int, int, bytes | str]] = []
        self.closed: list[int] = []

    def open(self, path: str) -> int:
        return 42

    def ioctl(self, fd: int, request: int, hdr: Any = None, body: Any = None) -> None:
        assert request == nm.NIOCCTRL
        self.requests.append((int(hdr.nr_version), int(hdr.nr_reqtype), nmffi.string(hdr.nr_name)))
        assert body is not None
        if self.err:
            raise OSError(self.err, os.strerror(self.err))

    def close(self, fd: int) -> None:
        self.closed.append(fd)


def test_api_version_mismatch_is_a_problem(tmp_path: Path) -> None:
    kernel = FakeNetmap(errno.EINVAL)
    env = fake_env(tmp_path, device=Path("/dev/null"), netmap_syscalls=kernel)
    check = api_version(env)
    assert check.verdict == "problem"
    assert "rejects API version 14" in check.detail
    # a PORT_INFO_GET at version 14 for no port: it changes nothing in the kernel
    assert kernel.requests == [(14, nm.NETMAP_REQ_PORT_INFO_GET, b"")]
    assert kernel.closed == [42]
    assert api_version(fake_env(tmp_path, device=Path("/dev/null"),
                                netmap_syscalls=FakeNetmap())).verdict == "ok"  # fmt: skip
    assert api_version(fake_env(tmp_path, netmap_syscalls=FakeNetmap(errno.EIO))).verdict == (
        "problem"
    )


def test_device_checks_run_only_when_the_device_exists(tmp_path: Path) -> None:
    env = fake_env(tmp_path, device=Path("/dev/null"), netmap_syscalls=FakeNetmap())
    load_fake_netmap(env)
    checks = run_checks(parse_portspec("vale0:p1"), env)
    assert [(c.name, c.verdict) for c in checks] == [
        ("netmap module", "ok"), ("/dev/netmap access", "ok"), ("netmap API", "ok")
    ]  # fmt: skip


def test_device_permissions(tmp_path: Path, open_dir: Path) -> None:
    not_a_device = tmp_path / "netmap"
    not_a_device.write_text("")
    assert device_permissions(fake_env(tmp_path, device=not_a_device)).verdict == "problem"
    require_root()
    device = open_dir / "netmap"
    os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # a root-only /dev/null
    env = fake_env(tmp_path, device=device)
    assert device_permissions(env).verdict == "ok"
    with as_nobody():
        check = device_permissions(env)
    assert check.verdict == "problem"
    assert f"uid {NOBODY}" in check.detail
    assert check.fix is not None
    assert "udev" in check.fix


# ---- CAP_NET_RAW ------------------------------------------------------------------------


def test_cap_net_raw_missing_is_a_problem_for_packet_ports(tmp_path: Path) -> None:
    env = fake_env(tmp_path)
    assert cap_net_raw(env, required=True).verdict == ("ok" if os.geteuid() == 0 else "problem")
    with as_nobody():
        check = cap_net_raw(env, required=True)
        general = cap_net_raw(env, required=False)
    assert check.verdict == "problem"
    assert general.verdict == "warning"
    assert "CAP_NET_RAW" in check.detail


# ---- /dev/shm for pipe: -----------------------------------------------------------------


def test_pipe_default_is_ok_and_bad_rings_are_a_problem(tmp_path: Path) -> None:
    env = fake_env(tmp_path, shm=tmp_path)
    assert shm_space(env, parse_portspec("pipe:a{1")).verdict == "ok"
    check = shm_space(env, parse_portspec("pipe:a{1@conf:slots=3"))
    assert check.verdict == "problem"
    assert check.fix is not None
    assert "slots=4..65536" in check.fix
    missing = shm_space(fake_env(tmp_path, shm=tmp_path / "none"), None)
    assert missing.verdict == "problem"


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: too small for a default pipe's 8 MiB region."""
    require_root()
    mnt = tmp_path / "shm"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=1777", "tmpfs", str(mnt)],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True, capture_output=True)


def test_pipe_without_room_in_shm_is_a_problem(small_tmpfs: Path) -> None:
    env = Env(shm=small_tmpfs)
    check = shm_space(env, parse_portspec("pipe:big{1"))
    assert check.verdict == "problem"
    assert "needs 8,478,720 bytes" in check.detail
    assert shm_space(env, parse_portspec("pipe:big{1@conf:slots=64")).verdict == "ok"


def test_pipe_shm_permissions(open_dir: Path) -> None:
    require_root()
    shm = open_dir
    stale = shm / "aionetmap-pipe.old.1"
    stale.write_text("")
    stale.chmod(0o600)
    env = Env(shm=shm)
    with as_nobody():
        cannot_create = shm_space(env, parse_portspec("pipe:new{1"))
        not_ours = shm_space(env, parse_portspec("pipe:old}1"))
    assert cannot_create.verdict == "problem"
    assert "cannot create files" in cannot_create.detail
    assert not_ours.verdict == "problem"
    assert "not ours" in not_ours.detail
    assert shm_space(env, parse_portspec("pipe:old}1")).verdict == "ok"


# ---- interfaces, on a veth pair ----------------------------------------------------------


@pytest.mark.netns
def test_veth_as_the_tests_set_it_up_is_all_ok_for_packet(veth: VethLink) -> None:
    rc, checks = run_in(veth.our_netns, f"packet:{veth.our_ifname}")
    assert rc == 0
    assert {name: c.verdict for name, c in checks.items()} == {
        "CAP_NET_RAW": "ok", "interface": "ok", "veth peer offload": "ok",
        "veth peer IPv6": "ok", "IPv6": "ok",
    }  # fmt: skip
    assert f"MTU {veth.mtu}" in checks["interface"].detail
    assert veth.peer_ifname in checks["veth peer offload"].detail


@pytest.mark.netns
def test_missing_and_down_interfaces_are_problems(veth: VethLink) -> None:
    rc, checks = run_in(veth.our_netns, "packet:nosuchif0")
    assert rc == 1
    assert list(checks) == ["CAP_NET_RAW", "interface"]
    assert checks["interface"].verdict == "problem"
    ip("link", "set", veth.our_ifname, "down", netns=veth.our_netns)
    rc, checks = run_in(veth.our_netns, f"packet:{veth.our_ifname}")
    assert rc == 1
    assert checks["interface"].verdict == "problem"
    assert checks["interface"].fix == f"`ip link set {veth.our_ifname} up`"


@pytest.mark.netns
def test_no_carrier_is_a_warning(veth: VethLink) -> None:
    ip("link", "set", veth.peer_ifname, "down", netns=veth.peer_netns)
    rc, checks = run_in(veth.our_netns, f"packet:{veth.our_ifname}")
    assert rc == 0
    assert checks["interface"].verdict == "warning"
    assert "no carrier" in checks["interface"].detail


@pytest.mark.netns
def test_mtu_beyond_netmap_buffers_is_a_warning(netns_guard: None) -> None:
    with VethLink(mtu=9000) as link:
        rc, checks = run_in(link.our_netns, f"netmap:{link.our_ifname}")
        assert rc == 1  # no netmap module here: that one is a problem
        assert checks["netmap module"].verdict == "problem"
        assert checks["interface"].verdict == "warning"
        assert "9014 bytes do not fit netmap's 2048-byte buffers" in checks["interface"].detail
        rc, checks = run_in(link.our_netns, f"packet:{link.our_ifname}")
        assert checks["interface"].verdict == "ok"  # AF_PACKET sizes its frames to the MTU


def set_tx_csum(netns: str, ifname: str, on: bool) -> None:
    with netns_socket(netns, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        assert pkt.pkt_ethtool_set(sock.fileno(), ifname.encode(), pkt.ETHTOOL_STXCSUM, on) == 0


@pytest.mark.netns
def test_peer_tx_checksum_offload_warns_for_netmap_only(veth: VethLink) -> None:
    set_tx_csum(veth.peer_netns, veth.peer_ifname, True)
    _, checks = run_in(veth.our_netns, f"netmap:{veth.our_ifname}")
    peer = checks["veth peer offload"]
    assert peer.verdict == "warning"
    assert f"peer {veth.peer_ifname} in namespace {veth.peer_netns}" in peer.detail
    assert peer.fix == f"`ip netns exec {veth.peer_netns} ethtool -K {veth.peer_ifname} tx off`"
    _, checks = run_in(veth.our_netns, f"packet:{veth.our_ifname}")
    assert checks["veth peer offload"].verdict == "ok"
    assert "AF_PACKET flags" in checks["veth peer offload"].detail
    set_tx_csum(veth.peer_netns, veth.peer_ifname, False)
    _, checks = run_in(veth.our_netns, f"netmap:{veth.our_ifname}")
    assert checks["veth peer offload"].verdict == "ok"


@pytest.mark.netns
def test_peer_in_the_same_namespace_is_found(veth: VethLink) -> None:
    ns = veth.our_netns
    ip("link", "add", "name", "dra", "type", "veth", "peer", "name", "drb", netns=ns)
    for name in ("dra", "drb"):
        ip("link", "set", name, "up", netns=ns)
    set_tx_csum(ns, "drb", True)
    _, checks = run_in(ns, "netmap:dra")
    peer = checks["veth peer offload"]
    assert peer.verdict == "warning"
    assert peer.fix == "`ethtool -K drb tx off`"


@pytest.mark.netns
def test_ipv6_on_the_interface_is_a_warning(veth: VethLink) -> None:
    path = f"/proc/sys/net/ipv6/conf/{veth.our_ifname}/disable_ipv6"
    netns_exec(veth.our_netns, "sh", "-c", f"echo 0 > {path}")
    rc, checks = run_in(veth.our_netns, f"packet:{veth.our_ifname}")
    assert rc == 0
    assert checks["IPv6"].verdict == "warning"
    assert checks["IPv6"].fix == f"`sysctl -w net.ipv6.conf.{veth.our_ifname}.disable_ipv6=1`"
    # host rings only carry the kernel's own traffic: no IPv6 check there
    _, checks = run_in(veth.our_netns, f"netmap:{veth.our_ifname}^")
    assert "IPv6" not in checks


@pytest.mark.netns
def test_ipv6_on_the_veth_peer_is_a_warning(veth: VethLink) -> None:
    path = f"/proc/sys/net/ipv6/conf/{veth.peer_ifname}/disable_ipv6"
    veth.peer_exec("sh", "-c", f"echo 0 > {path}")
    rc, checks = run_in(veth.our_netns, f"packet:{veth.our_ifname}")
    assert rc == 0
    assert checks["IPv6"].verdict == "ok"  # ours is still off
    peer = checks["veth peer IPv6"]
    assert peer.verdict == "warning"
    assert peer.fix == (f"`ip netns exec {veth.peer_netns} sysctl -w "
                        f"net.ipv6.conf.{veth.peer_ifname}.disable_ipv6=1`")  # fmt: skip


class FakeLinks:
    def driver(self, ifname: str) -> str | None:
        return "veth"

    def tx_csum(self, ifname: str, netns: str | None = None) -> bool | None:
        raise AssertionError("no peer to ask")


def test_a_peer_that_cannot_be_found_is_a_warning(tmp_path: Path) -> None:
    env = fake_env(tmp_path, links=FakeLinks(), ip=lambda args: None)
    base = env.sys / "class" / "net" / "v0"
    base.mkdir()
    for attr, value in (("ifindex", "7"), ("iflink", "9"), ("flags", "0x1003"), ("mtu", "1500")):
        (base / attr).write_text(value + "\n")
    env.proc = tmp_path / "proc"
    checks = run_checks(parse_portspec("packet:v0"), env)
    (peer,) = (c for c in checks if c.name.startswith("veth"))
    assert (peer.name, peer.verdict) == ("veth peer", "warning")
    assert "another network namespace that has no name" in peer.detail


@pytest.mark.netns
def test_adapter_mode_from_the_driver_and_netmaps_holders(veth: VethLink, tmp_path: Path) -> None:
    # The driver name comes from the real veth (ethtool in its namespace); the netmap module
    # it is compared against is a fake /sys tree.
    spec = parse_portspec(f"netmap:{veth.our_ifname}")
    links = LinkProbe(veth.our_netns)

    def mode(**netmap: Any) -> Check:
        root = tmp_path / str(len(list(tmp_path.iterdir())))
        env = fake_env(root, links=links)
        if netmap:
            load_fake_netmap(env, **netmap)
        return adapter_mode(env, spec)

    unloaded = mode()
    assert unloaded.verdict == "warning"
    assert "runs veth, which has native netmap support" in unloaded.detail
    emulated = mode(admode="0")
    assert emulated.verdict == "warning"
    assert "emulated (generic) adapter" in emulated.detail
    assert emulated.fix is not None
    assert "--drivers=veth" in emulated.fix
    assert mode(admode="0", holders=("veth",)).verdict == "ok"
    assert mode(admode="1").verdict == "problem"
    forced = mode(admode="2", holders=("veth",))
    assert forced.verdict == "warning"
    assert "admode=2" in forced.detail


# ---- the command line --------------------------------------------------------------------


def test_cli_exit_status_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["doctor", "pipe:x{1@conf:slots=3", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["portspec"] == "pipe:x{1@conf:slots=3"
    assert doc["verdict"] == "problem"
    assert set(doc["checks"][0]) == {"name", "verdict", "detail", "fix"}
    assert cli.main(["doctor", "nonsense:x"]) == 1
    assert "invalid portspec" in capsys.readouterr().err
    proc = subprocess.run([sys.executable, "-m", "aionetmap", "doctor"], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr  # no portspec: at most warnings
    assert proc.stdout.startswith("aionetmap doctor: this machine")
    assert "result:" in proc.stdout


@pytest.mark.netns
def test_ethtool_driver_name_is_bounded(veth: VethLink) -> None:
    with netns_socket(veth.our_netns, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fd, name = sock.fileno(), veth.our_ifname.encode()
        out = pkt_ffi.new("char[]", 64)
        assert pkt.pkt_ethtool_driver(fd, name, out, 64) == 4
        assert pkt_ffi.string(out) == b"veth"
        short = pkt_ffi.new("char[]", 3)
        assert pkt.pkt_ethtool_driver(fd, name, short, 3) == 2  # cut to fit, NUL-terminated
        assert pkt_ffi.string(short) == b"ve"
        assert pkt.pkt_ethtool_driver(fd, name, out, 0) == -errno.EINVAL
        assert pkt.pkt_ethtool_driver(fd, b"nosuchif0", out, 64) == -errno.ENODEV
        assert pkt.pkt_ethtool_driver(fd, b"x" * 16, out, 64) == -errno.EINVAL  # > IFNAMSIZ
    assert LinkProbe(veth.our_netns).driver("nosuchif0") is None
