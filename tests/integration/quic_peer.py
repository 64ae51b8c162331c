"""The kernel side of the aioquic tests: aioquic's own server or client on kernel UDP
sockets, run as ``python -m tests.integration.quic_peer`` inside the peer namespace
(``ip netns exec``), so that its sockets live there.

* ``serve CERT KEY PORT``: ``aioquic.asyncio.serve("::", PORT)`` (dual-stack), echoing each
  raw QUIC stream back (ALPN ``echo``) with its length prepended, until stdin closes.
  Prints ``ready`` once listening.
* ``connect CA HOST PORT MESSAGE``: ``aioquic.asyncio.connect(HOST, PORT)`` verifying the
  server against CA, sends MESSAGE on one stream and prints what comes back.
"""

from __future__ import annotations

import asyncio
import sys

from aioquic.asyncio.client import connect
from aioquic.asyncio.server import serve
from aioquic.quic.configuration import QuicConfiguration

ALPN = ["echo"]
_tasks: set[asyncio.Future[None]] = set()  # answers under way (the loop keeps weak refs)


def echo_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Stream handler: read to the end, answer ``b"%d:" % len(data) + data``."""

    async def answer() -> None:
        data = await reader.read()
        writer.write(b"%d:" % len(data) + data)
        writer.write_eof()

    _tasks.add(task := asyncio.ensure_future(answer()))
    task.add_done_callback(_tasks.discard)


async def run_server(cert: str, key: str, port: int) -> None:
    config = QuicConfiguration(is_client=False, alpn_protocols=ALPN)
    config.load_cert_chain(cert, key)
    server = await serve("::", port, configuration=config, stream_handler=echo_stream)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the test closes our stdin
    server.close()


async def run_client(ca: str, host: str, port: int, message: bytes) -> bytes:
    config = QuicConfiguration(is_client=True, alpn_protocols=ALPN)
    config.load_verify_locations(ca)
    async with connect(host, port, configuration=config) as client:
        reader, writer = await client.create_stream()
        writer.write(message)
        writer.write_eof()
        return await reader.read()


def main(argv: list[str]) -> int:
    if argv[0] == "serve":
        asyncio.run(run_server(argv[1], argv[2], int(argv[3])))
        return 0
    answer = asyncio.run(
        asyncio.wait_for(run_client(argv[1], argv[2], int(argv[3]), argv[4].encode()), 20)
    )
    print(answer.decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
