"""The result object and the error object, the ABI values against the compiled module, and
any text: it parses or raises PortSpecError."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aionetmap import portspec
from aionetmap._native._netmap import lib
from aionetmap.portspec import PortSpecError, parse_portspec


def test_portspec_is_frozen_hashable_and_compares_by_value() -> None:
    a, b = parse_portspec("vale0:p-1@conf:slots=64"), parse_portspec("vale0:p-1@conf:slots=64")
    assert a == b
    assert hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.nr_name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        a.conf["slots"] = 1  # type: ignore[index]
    assert parse_portspec("pipe:x{1@conf:buf-size=64") != parse_portspec(
        "pipe:x{1@conf:buf-size=128"
    )


def test_error_pickles_with_its_fields() -> None:
    with pytest.raises(PortSpecError) as info:
        parse_portspec("netmap:eth0-")
    copy = pickle.loads(pickle.dumps(info.value))
    assert (type(copy), copy.spec, copy.offset, str(copy)) == (
        PortSpecError,
        "netmap:eth0-",
        12,
        str(info.value),
    )


def test_not_a_string() -> None:
    with pytest.raises(TypeError, match="bytes"):
        parse_portspec(b"netmap:eth0")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        "NR_REG_ALL_NIC",
        "NR_REG_SW",
        "NR_REG_NIC_SW",
        "NR_REG_ONE_NIC",
        "NR_REG_ONE_SW",
        "NR_MONITOR_TX",
        "NR_MONITOR_RX",
        "NR_ZCOPY_MON",
        "NR_EXCLUSIVE",
        "NR_RX_RINGS_ONLY",
        "NR_TX_RINGS_ONLY",
    ],
)
def test_parser_constants_match_the_compiled_abi(name: str) -> None:
    assert getattr(portspec, name) == getattr(lib, name)


_GRAMMAR = "netmapvalepipcketkonfshr:{}-^*/@=,.xzRT0123456789_é& "


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=_GRAMMAR, max_size=40),
        st.builds(
            "".join,
            st.tuples(
                st.sampled_from(["netmap:", "vale0:", "pipe:", "packet:", "vale:", "netmap"]),
                st.text(alphabet=_GRAMMAR, max_size=30),
            ),
        ),
    )
)
def test_any_text_parses_or_raises_portspec_error(text: str) -> None:
    """Nothing but PortSpecError ever escapes, and the caret stays inside the spec."""
    error: PortSpecError | None = None
    try:
        spec = parse_portspec(text)
    except PortSpecError as exc:
        error = exc
    if error is not None:
        assert 0 <= error.offset <= len(text)
        assert error.spec == text
    else:
        assert spec.text == text
        assert 0 < len(spec.nr_name) <= 200
        assert spec.nr_name in text
