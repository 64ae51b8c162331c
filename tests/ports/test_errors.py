"""errno -> exception mapping: class, errno, port name and the cause for each operation."""

from __future__ import annotations

import errno

import pytest

from aionetmap.ports.errors import Operation, netmap_error

# (errno, operation, exact exception class, words the message must contain)
CASES: list[tuple[int, Operation, type[OSError], tuple[str, ...]]] = [
    # open /dev/netmap
    (
        errno.ENOENT,
        "open",
        FileNotFoundError,
        ("module is not loaded", "packet:IFNAME", "pipe:NAME{0"),
    ),
    (errno.ENODEV, "open", OSError, ("module is not loaded", "packet:IFNAME")),
    (errno.EACCES, "open", PermissionError, ("root", "udev rule")),
    (errno.EPERM, "open", PermissionError, ("root", "udev rule")),
    (errno.EMFILE, "open", OSError, ("Too many open files",)),
    # NIOCCTRL REGISTER (netmap-abi.md §5.3)
    (errno.ENXIO, "register", OSError, ("interface not found",)),
    (errno.EINVAL, "register", OSError, ("ring id out of range", "host rings", "MTU", "memory id")),
    (errno.EBUSY, "register", OSError, ("already registered", "exclusively owned", "VALE")),
    (errno.EIO, "register", OSError, ("vnet", "NR_ACCEPT_VNET_HDR")),
    (errno.EOPNOTSUPP, "register", OSError, ("native mode", "option")),
    (errno.ENOMEM, "register", OSError, ("VALE", "switch")),
    (errno.EMSGSIZE, "register", OSError, ("4096",)),
    (errno.EFAULT, "register", OSError, ("bug",)),
    (errno.ENOTTY, "register", OSError, ("not a netmap device",)),
    (errno.EAGAIN, "register", BlockingIOError, ("Resource temporarily unavailable",)),
    (errno.EINTR, "register", InterruptedError, ("Interrupted",)),
    (errno.ENOENT, "register", FileNotFoundError, ("No such file",)),
    # PORT_INFO_GET (for @share=)
    (errno.ENXIO, "port_info", OSError, ("interface not found",)),
    # mmap
    (errno.EINVAL, "mmap", OSError, ("not registered", "nr_memsize")),
    (errno.ENOMEM, "mmap", OSError, ("address space",)),
    # syncs
    (errno.ENXIO, "txsync", OSError, ("not registered",)),
    (errno.ENXIO, "rxsync", OSError, ("not registered",)),
    (errno.EBUSY, "txsync", OSError, ("CSB",)),
    (errno.EIO, "rxsync", OSError, ("ring is stopped",)),
    (errno.EIO, "txsync", OSError, ("ring is stopped",)),
]


@pytest.mark.parametrize(
    ("err", "op", "cls", "words"), CASES, ids=[f"{op}-{errno.errorcode[e]}" for e, op, *_ in CASES]
)
def test_mapping(err: int, op: Operation, cls: type[OSError], words: tuple[str, ...]) -> None:
    exc = netmap_error(err, "netmap:eth9-1", op)
    assert type(exc) is cls
    assert exc.errno == err
    message = str(exc.strerror)
    assert message.startswith("netmap:eth9-1: ")
    assert message.endswith(f"({errno.errorcode[err]})")
    for word in words:
        assert word in message


def test_same_errno_means_different_things_per_operation() -> None:
    at_register = netmap_error(errno.ENXIO, "netmap:x", "register").strerror
    at_sync = netmap_error(errno.ENXIO, "netmap:x", "txsync").strerror
    assert "interface not found" in str(at_register)
    assert "interface not found" not in str(at_sync)


@pytest.mark.parametrize(
    ("op", "what"),
    [
        ("open", "open /dev/netmap"),
        ("register", "REGISTER"),
        ("port_info", "PORT_INFO_GET"),
        ("mmap", "map"),
        ("txsync", "NIOCTXSYNC"),
        ("rxsync", "NIOCRXSYNC"),
    ],
)
def test_message_names_the_operation(op: Operation, what: str) -> None:
    assert what in str(netmap_error(errno.EINVAL, "vale0:p", op))


def test_unknown_errno_number_still_converts() -> None:
    exc = netmap_error(4000, "netmap:eth0", "register")
    assert exc.errno == 4000
    assert "errno 4000" in str(exc)


@pytest.mark.parametrize("err", [0, -errno.EINVAL])
def test_rejects_non_positive_errno(err: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        netmap_error(err, "netmap:eth0", "register")
