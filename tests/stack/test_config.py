"""HostConfig validation."""

from __future__ import annotations

import pytest

from aionetmap.stack.config import HostConfig


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"default_ttl": 0}, id="ttl-0"),
        pytest.param({"default_ttl": 256}, id="ttl-256"),
        pytest.param({"ip_ident_seed": 65536}, id="ident"),
        pytest.param({"icmp_error_rate": -1.0}, id="rate"),
    ],
)
def test_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        HostConfig(**kwargs)  # type: ignore[arg-type]


def test_keyword_only_and_frozen() -> None:
    config = HostConfig(arp_ttl=5.0)
    assert config.arp_ttl == 5.0
    with pytest.raises(TypeError):
        HostConfig(64)  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        config.arp_ttl = 1.0  # type: ignore[misc]


def test_accept_partial_checksum_is_a_bool_or_none() -> None:
    assert HostConfig().accept_partial_checksum is None  # the port decides
    for value in (True, False, None):
        assert HostConfig(accept_partial_checksum=value).accept_partial_checksum is value
    with pytest.raises(TypeError, match="accept_partial_checksum"):
        HostConfig(accept_partial_checksum=1)  # type: ignore[arg-type]
