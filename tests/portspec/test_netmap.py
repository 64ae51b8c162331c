"""The netmap: and vale grammar: libnetmap's worked examples (netmap-abi.md §5.2), our own
edge cases, the @ options, @share and netmap pipe ends."""

from __future__ import annotations

from typing import Any

import pytest

from aionetmap.portspec import PortSpecError, UnsupportedPortSpecError, parse_portspec

ALL, ONE, SW, NIC_SW, ONE_SW = 1, 4, 2, 3, 8
X, Z, T_MON, R_MON, R_ONLY, T_ONLY = 0x800, 0x400, 0x100, 0x200, 0x2000, 0x4000

# (spec, nr_name, nr_mode, nr_ringid, nr_flags, nr_mem_id): every valid row of the §5.2
# worked-examples table (libnetmap's ctrl-api-test table), then our own.
VALID: list[tuple[str, str, int, int, int, int]] = [
    ("netmap:eth0", "eth0", ALL, 0, 0, 0),
    ("netmap:eth0-1", "eth0", ONE, 1, 0, 0),
    ("netmap:eth0/x", "eth0", ALL, 0, X, 0),
    ("netmap:eth0/z", "eth0", ALL, 0, Z, 0),
    ("netmap:eth0/r", "eth0", ALL, 0, R_MON, 0),
    ("netmap:eth0/t", "eth0", ALL, 0, T_MON, 0),
    ("netmap:eth0-2/Tx", "eth0", ONE, 2, T_ONLY | X, 0),
    ("netmap:eth0*", "eth0", NIC_SW, 0, 0, 0),
    ("netmap:eth0^", "eth0", SW, 0, 0, 0),
    ("netmap:eth0@2", "eth0", ALL, 0, 0, 2),
    ("netmap:eth0@2/R", "eth0", ALL, 0, R_ONLY, 2),
    ("netmap:eth0@2/R@2", "eth0", ALL, 0, R_ONLY, 2),
    ("vale0:0", "vale0:0", ALL, 0, 0, 0),
    ("vale:0", "vale:0", ALL, 0, 0, 0),
    ("valeXXX:YYY", "valeXXX:YYY", ALL, 0, 0, 0),
    ("valeXXX:YYY-4", "valeXXX:YYY", ONE, 4, 0, 0),
    ("netmap:14", "14", ALL, 0, 0, 0),
    ("netmap:pipe{0", "pipe{0", ALL, 0, 0, 0),
    ("netmap:pipe{in", "pipe{in", ALL, 0, 0, 0),
    ("netmap:pipe{in-7", "pipe{in", ONE, 7, 0, 0),
    ("vale0:0{0", "vale0:0{0", ALL, 0, 0, 0),
    # the rows whose suffix is an option, with an option we know in its place
    ("vale0:0@conf:rings=1", "vale0:0", ALL, 0, 0, 0),
    ("vale0:0/Tx@conf:rings=1", "vale0:0", ALL, 0, T_ONLY | X, 0),
    ("vale0:0-3@conf:rings=1", "vale0:0", ONE, 3, 0, 0),
    ("netmap:eth0/R@conf:slots=8", "eth0", ALL, 0, R_ONLY, 0),
    # our own edge cases
    ("netmap:eth0^3", "eth0", ONE_SW, 3, 0, 0),
    ("netmap:eth0^/R", "eth0", SW, 0, R_ONLY, 0),
    ("netmap:eth0*@7", "eth0", NIC_SW, 0, 0, 7),
    ("netmap:eth0-4094", "eth0", ONE, 4094, 0, 0),
    ("netmap:eth0@65535", "eth0", ALL, 0, 0, 65535),
    ("netmap:eth0/R@2/x", "eth0", ALL, 0, R_ONLY | X, 2),
    ("netmap:eth0/xx", "eth0", ALL, 0, X, 0),
    ("netmap:eth0/xztrRT", "eth0", ALL, 0, X | Z | T_MON | R_MON | R_ONLY | T_ONLY, 0),
    ("netmap:eth0.100", "eth0.100", ALL, 0, 0, 0),
    ("netmap:eth0}1", "eth0}1", ALL, 0, 0, 0),
    ("vale_A1:p_2", "vale_A1:p_2", ALL, 0, 0, 0),
    ("vale0:" + "p" * 15, "vale0:" + "p" * 15, ALL, 0, 0, 0),
    ("vale" + "s" * 11 + ":p", "vale" + "s" * 11 + ":p", ALL, 0, 0, 0),
    ("netmap:" + "n" * 63, "n" * 63, ALL, 0, 0, 0),
]

# (spec, offset of the caret, words the message must contain)
INVALID: list[tuple[str, int, str]] = [
    # §5.2 worked examples
    ("netmap:eth0-", 12, "ring number"),
    ("netmap:eth0@", 12, "memory id"),
    ("netmap:eth0@2/R@3", 16, "conflicts"),
    ("netmap:", 7, "empty port name"),
    ("netmap:^", 7, "empty port name"),
    ("netmap:{", 7, "parent"),
    ("eth0", 0, "subsystem"),
    ("netmapXXX:eth0", 6, "no identifier"),
    ("netmap:eth0&", 11, "'&'"),
    ("netmap:vale0:0", 12, "':'"),
    ("", 0, "subsystem"),
    ("netmap:pipe{1}2", 13, "pipe id"),
    ("vale0:0@", 8, "memory id"),
    ("vale0:0-3@opt", 10, "unknown option 'opt'"),
    ("netmap:eth0@netmap:lo/R", 12, "unknown option 'netmap'"),
    ("netmap:eth0/R@xxx", 14, "unknown option 'xxx'"),
    # modes, flags and memory ids
    ("netmap:eth0-x", 12, "ring number"),
    ("netmap:eth0-4095", 12, "out of range"),
    ("netmap:eth0-1-2", 13, "unexpected '-'"),
    ("netmap:eth0*2", 12, "unexpected '2'"),
    ("netmap:eth0@2-1", 13, "unexpected '-'"),
    ("netmap:eth0/", 12, "flag letters"),
    ("netmap:eth0/@2", 12, "flag letters"),
    ("netmap:eth0/q", 12, "unknown flag 'q'"),
    ("netmap:eth0/x/R", 13, "unknown flag '/'"),
    ("netmap:eth0@0", 12, "memory id"),
    ("netmap:eth0@65536", 12, "out of range"),
    # names
    ("netmap:eth0{", 12, "empty pipe id"),
    ("netmap:eth0{a-b", 14, "ring number"),  # the name ends at '-', and 'b' is no number
    ("netmap:eth0{a.b", 13, "pipe id"),
    ("netmap:eth0{1^", 13, "no host rings"),
    ("netmap:eth0}1*", 13, "no host rings"),
    ("netmap:eth0}1^2", 13, "no host rings"),
    ("netmap:" + "n" * 64, 7, "63 bytes"),
    ("netmap:éth0", 7, "'é'"),
    ("netmap:eth 0", 10, "' '"),
    ("netmap", 6, "missing ':'"),
    ("vale0", 5, "missing ':'"),
    ("vale-0:p", 4, "VALE switch name"),
    ("vale0:", 6, "empty port name"),
    ("vale0:" + "p" * 16, 6, "15 characters"),
    ("vale" + "s" * 12 + ":p", 0, "15 characters"),
    ("vale0:p:q", 7, "':'"),
    ("pipe", 0, "subsystem"),
    ("tap:eth0", 0, "subsystem"),
    # options
    ("netmap:eth0@conf", 16, "key=value"),
    ("netmap:eth0@conf=4", 16, "not '='"),
    ("netmap:eth0@conf:", 17, "unknown key ''"),
    ("netmap:eth0@conf:ring=2", 17, "unknown key 'ring'"),
    ("netmap:eth0@conf:rings", 22, "missing value"),
    ("netmap:eth0@conf:rings=", 22, "missing value"),
    ("netmap:eth0@conf:rings=2,rings=3", 25, "duplicate key"),
    ("netmap:eth0@conf:rings=two", 23, "needs a number"),
    ("netmap:eth0@conf:rings=0", 23, "1..65535"),
    ("netmap:eth0@conf:rings=65536", 23, "1..65535"),
    ("netmap:eth0@conf:slots=4294967296", 23, "1..4294967295"),
    ("netmap:eth0@conf:slots=+5", 23, "needs a number"),
    ("netmap:eth0@conf:buf-size=4096", 17, "unknown key 'buf-size'"),
    ("netmap:eth0@conf:rings=1@", 25, "empty option"),
    ("netmap:eth0@conf:rings=1@@conf:slots=2", 25, "empty option"),
    ("netmap:eth0@share", 17, "key=value"),
    ("netmap:eth0@share=", 18, "missing value"),
    ("netmap:eth0@share=eth1", 18, "in @share: unknown or missing subsystem"),
    ("netmap:eth0@share=netmap:eth1-", 30, "in @share: expected a ring number"),
    ("netmap:eth0@share=pipe:a{1", 18, "netmap: or vale"),
    ("netmap:eth0@share:bits=1", 18, "unknown key 'bits'"),
    ("netmap:eth0@extmem:if-num=2", 12, "needs key 'file'"),
    ("netmap:eth0@offset:bits=2", 12, "needs key 'initial'"),
]

UNSUPPORTED = [
    "netmap:eth0@extmem=/tmp/mem",
    "netmap:eth0@extmem:file=/tmp/mem,if-num=2,buf-size=2048",
    "netmap:eth0@offset=64",
    "netmap:eth0@offset:initial=64,bits=8",
]


@pytest.mark.parametrize(("text", "name", "mode", "ringid", "flags", "mem_id"), VALID, ids=str)
def test_valid(text: str, name: str, mode: int, ringid: int, flags: int, mem_id: int) -> None:
    spec = parse_portspec(text)
    assert spec.text == text
    assert spec.subsystem == ("vale" if text.startswith("vale") else "netmap")
    assert (spec.nr_name, spec.nr_mode, spec.nr_ringid) == (name, mode, ringid)
    assert (spec.nr_flags, spec.nr_mem_id) == (flags, mem_id)


@pytest.mark.parametrize(("text", "offset", "words"), INVALID, ids=str)
def test_invalid(text: str, offset: int, words: str) -> None:
    with pytest.raises(PortSpecError) as info:
        parse_portspec(text)
    err = info.value
    assert not isinstance(err, UnsupportedPortSpecError)
    assert isinstance(err, ValueError)
    assert (err.spec, err.offset) == (text, offset), err.reason
    assert words in err.reason
    # The message quotes the spec, then shows it again with a caret under the bad part.
    lines = str(err).splitlines()
    assert lines[0].startswith(f"invalid portspec {text!r}: ")
    assert lines[1] == f"    {text}"
    assert lines[2] == " " * (4 + offset) + "^"


@pytest.mark.parametrize("text", UNSUPPORTED)
def test_extmem_and_offset_are_parsed_then_rejected(text: str) -> None:
    with pytest.raises(UnsupportedPortSpecError, match="not supported by aionetmap") as info:
        parse_portspec(text)
    assert info.value.offset == len("netmap:eth0@")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vale0:p@conf:rings=2", {"tx_rings": 2, "rx_rings": 2}),
        ("vale0:p@conf:tx-rings=3,rx-rings=1", {"tx_rings": 3, "rx_rings": 1}),
        ("vale0:p@conf:tx_rings=3", {"tx_rings": 3}),
        ("netmap:eth0@conf:host-rings=2", {"host_tx_rings": 2, "host_rx_rings": 2}),
        (
            "netmap:eth0@conf:host-tx-rings=1,host-rx-rings=4",
            {"host_tx_rings": 1, "host_rx_rings": 4},
        ),
        ("vale0:p@conf:slots=512", {"tx_slots": 512, "rx_slots": 512}),
        ("vale0:p@conf:tx-slots=64,rx-slots=128", {"tx_slots": 64, "rx_slots": 128}),
        # the specific key wins over the shared one whatever the order (as in libnetmap)
        ("vale0:p@conf:tx-slots=64,slots=512", {"tx_slots": 64, "rx_slots": 512}),
        ("vale0:p@conf:slots=512,tx-slots=64", {"tx_slots": 64, "rx_slots": 512}),
        (
            "vale0:p-1@2/x@conf:rings=4@conf:slots=1024",
            {"tx_rings": 4, "rx_rings": 4, "tx_slots": 1024, "rx_slots": 1024},
        ),
    ],
)
def test_conf_hints(text: str, expected: dict[str, int]) -> None:
    spec = parse_portspec(text)
    hints = ("tx_rings", "rx_rings", "host_tx_rings", "host_rx_rings", "tx_slots", "rx_slots")
    assert {k: getattr(spec, k) for k in hints} == {k: expected.get(k, 0) for k in hints}


@pytest.mark.parametrize(
    ("text", "share"),
    [
        ("netmap:eth0@share=netmap:eth1", "eth1"),
        ("netmap:eth0@share=vale0:p-1/R", "vale0:p"),
        ("vale1:q@share:port=netmap:eth1{2", "eth1{2"),
        ("netmap:eth0@share=netmap:eth1@conf:rings=2", "eth1"),  # the option is the outer one
    ],
)
def test_share(text: str, share: str) -> None:
    assert parse_portspec(text).share == share


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("netmap:eth0{1", {"pipe_parent": "eth0", "pipe_id": "1", "pipe_end": "a"}),
        ("netmap:eth0}in_2-3", {"pipe_parent": "eth0", "pipe_id": "in_2", "pipe_end": "b"}),
        ("vale0:p}x", {"pipe_parent": "vale0:p", "pipe_id": "x", "pipe_end": "b"}),
        ("netmap:eth0", {"pipe_parent": None, "pipe_id": None, "pipe_end": None}),
    ],
)
def test_netmap_pipe_ends(text: str, fields: dict[str, Any]) -> None:
    spec = parse_portspec(text)
    assert {k: getattr(spec, k) for k in fields} == fields
    assert spec.is_pipe == (fields["pipe_end"] is not None)
