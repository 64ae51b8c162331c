"""A third-party client written for a dual-stack AF_INET6 socket, unchanged, over
aionetmap: aioquic's ``connect()`` binds ``("::", 0)`` and sends to ``::ffff:a.b.c.d``
for an IPv4 server. Through :func:`aionetmap.route_datagram_endpoints` its
``loop.create_datagram_endpoint(sock=...)`` makes a dual-stack aionetmap endpoint, and
it completes a QUIC handshake (TLS 1.3, the certificate verified) and a stream exchange
with aioquic's server on a kernel socket in the peer namespace, over IPv4 (mapped) and
IPv6. The reverse too: aioquic's ``serve("::", port)`` on aionetmap, its client on the
kernel. Both loops, both paths."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import sys
from pathlib import Path

import pytest
from aioquic.asyncio.server import serve
from aioquic.quic.configuration import QuicConfiguration
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import aionetmap
from aionetmap.testing.netns import VethLink
from tests.integration.quic_peer import ALPN, echo_stream, run_client

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
QUIC_PORT = 4433


@pytest.fixture(params=[4, 6], ids=["ipv4-mapped", "ipv6"])
def family(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def certificate(veth6: VethLink, tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate for every address of the link, and its key (PEM files):
    the client verifies the server against it, as ``connect()`` does by default."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aionetmap test")])
    now = datetime.datetime.now(datetime.UTC)
    addresses = [veth6.peer_ip, veth6.peer_ip6, veth6.our_ip, veth6.our_ip6]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def _peer_python(link: VethLink, *args: str) -> list[str]:
    return ["ip", "netns", "exec", link.peer_netns, sys.executable, "-m",
            "tests.integration.quic_peer", *args]  # fmt: skip


async def test_aioquic_client_on_aionetmap_kernel_server(
    veth6: VethLink, iface: aionetmap.NetInterface, certificate: tuple[str, str], family: int
) -> None:
    cert, key = certificate
    server = await asyncio.create_subprocess_exec(
        *_peer_python(veth6, "serve", cert, key, str(QUIC_PORT)),
        cwd=ROOT, env=ENV, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert server.stdout is not None
    assert server.stdin is not None
    try:
        async with asyncio.timeout(20):
            assert (await server.stdout.readline()).strip() == b"ready"
        loop = asyncio.get_running_loop()
        host = veth6.peer_ip if family == 4 else veth6.peer_ip6
        message = os.urandom(3000).hex().encode()  # several QUIC packets
        with aionetmap.route_datagram_endpoints(iface):
            assert "create_datagram_endpoint" in vars(loop)
            async with asyncio.timeout(20):
                answer = await run_client(cert, host, QUIC_PORT, message)
        assert "create_datagram_endpoint" not in vars(loop)
        assert answer == b"%d:" % len(message) + message
        stats = iface.stats()
        assert stats["rx_udp_delivered"] > 3, stats  # the handshake and the stream
    finally:
        server.stdin.close()
        try:
            async with asyncio.timeout(10):
                await server.wait()
        finally:
            if server.returncode is None:
                server.kill()
                await server.wait()


async def test_aioquic_server_on_aionetmap_kernel_client(
    veth6: VethLink, iface: aionetmap.NetInterface, certificate: tuple[str, str], family: int
) -> None:
    cert, key = certificate
    config = QuicConfiguration(is_client=False, alpn_protocols=ALPN)
    config.load_cert_chain(cert, key)
    with aionetmap.route_datagram_endpoints(iface):
        server = await serve("::", QUIC_PORT, configuration=config, stream_handler=echo_stream)
    try:
        host = veth6.our_ip if family == 4 else veth6.our_ip6
        client = await asyncio.create_subprocess_exec(
            *_peer_python(veth6, "connect", cert, host, str(QUIC_PORT), "hello over quic"),
            cwd=ROOT, env=ENV, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(30):
            out, err = await client.communicate()
        assert client.returncode == 0, err.decode()
        assert out.decode().strip() == "15:hello over quic"
        assert iface.endpoints[QUIC_PORT].get_extra_info("sockname") == ("::", QUIC_PORT, 0, 0)
    finally:
        server.close()
