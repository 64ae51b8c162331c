"""aionetmap's own subsystems: pipe:NAME{ID / pipe:NAME}ID and packet:IFNAME."""

from __future__ import annotations

from typing import Any

import pytest

from aionetmap.portspec import PortSpecError, parse_portspec

OWN_VALID: list[tuple[str, dict[str, Any]]] = [
    (
        "pipe:demo{0",
        {
            "subsystem": "pipe",
            "nr_name": "demo{0",
            "pipe_parent": "demo",
            "pipe_id": "0",
            "pipe_end": "a",
        },
    ),
    ("pipe:demo}0", {"pipe_parent": "demo", "pipe_id": "0", "pipe_end": "b"}),
    ("pipe:my-test.1{ab_c-2.x", {"pipe_parent": "my-test.1", "pipe_id": "ab_c-2.x"}),
    ("pipe:" + "p" * 196 + "{123", {"pipe_id": "123"}),
    ("pipe:demo{0-1", {"pipe_id": "0-1", "nr_mode": 1, "nr_ringid": 0}),  # '-' is no mode here
    (
        "pipe:d{1@conf:slots=64,buf-size=4096",
        {"tx_slots": 64, "rx_slots": 64, "conf": {"slots": 64, "buf_size": 4096}},
    ),
    ("pipe:d}1@conf:buf-size=9000", {"tx_slots": 0, "conf": {"buf_size": 9000}}),
    ("packet:veth0", {"subsystem": "packet", "nr_name": "veth0", "pipe_end": None}),
    ("packet:br-lan.100", {"nr_name": "br-lan.100"}),
    ("packet:" + "i" * 15, {"nr_name": "i" * 15}),
    (
        "packet:veth0@conf:rx-frames=4096,tx-slots=256,frame-size=2048,sndbuf=1048576",
        {"conf": {"rx_frames": 4096, "tx_slots": 256, "frame_size": 2048, "sndbuf": 1048576}},
    ),
]

OWN_INVALID: list[tuple[str, int, str]] = [
    ("pipe:", 5, "empty pipe name"),
    ("pipe:demo", 9, "NAME{ID"),
    ("pipe:{0", 5, "empty pipe name"),
    ("pipe:demo{", 10, "empty pipe id"),
    ("pipe:demo{0}1", 11, "'}'"),
    ("pipe:de mo{0", 7, "NAME{ID"),
    ("pipe:demo{0^", 11, "no netmap ring modes"),
    ("pipe:demo{0/R", 11, "no netmap ring modes"),
    ("pipe:demo{0@2", 12, "unknown option '2'"),
    ("pipe:demo{0@", 12, "empty option"),
    ("pipe:demo{0@conf:rings=2", 17, "unknown key 'rings'"),
    ("pipe:demo{0@share=netmap:eth0", 12, "unknown option 'share'"),
    ("pipe:" + "p" * 197 + "{123", 5, "200 characters"),
    ("packet:", 7, "empty interface name"),
    ("packet:" + "i" * 16, 7, "15 characters"),
    ("packet:eth0*", 11, "no netmap ring modes"),
    ("packet:eth0/x", 11, "no netmap ring modes"),
    ("packet:eth0{1", 11, "no netmap ring modes"),
    ("packet:eth:0", 10, "':'"),
    ("packet:eth0@conf:slots=2", 17, "unknown key 'slots'"),
    ("packet:eth0@extmem=/x", 12, "unknown option 'extmem'"),
]


@pytest.mark.parametrize(("text", "fields"), OWN_VALID, ids=[t for t, _ in OWN_VALID])
def test_own_valid(text: str, fields: dict[str, Any]) -> None:
    spec = parse_portspec(text)
    got = {k: dict(v) if k == "conf" else v for k, v in ((k, getattr(spec, k)) for k in fields)}
    assert got == fields


@pytest.mark.parametrize(("text", "offset", "words"), OWN_INVALID, ids=str)
def test_own_invalid(text: str, offset: int, words: str) -> None:
    with pytest.raises(PortSpecError) as info:
        parse_portspec(text)
    assert (info.value.offset, words in info.value.reason) == (offset, True), info.value.reason
