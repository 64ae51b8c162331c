"""Tunables shared by the transports (asyncio's own defaults where one exists)."""

from __future__ import annotations

__all__ = [
    "CLOSE_STALL_TIMEOUT",
    "DEFAULT_HIGH_WATER",
    "DEFAULT_READ_BUFFER",
    "DRAIN_POLL_INTERVAL",
    "EPHEMERAL_PORTS",
    "LINK_WATCH_INTERVAL",
    "LOG_THRESHOLD_FOR_CONNLOST_WRITES",
    "MAX_TX_ROUNDS",
    "PAUSED_TX_POLL_INTERVAL",
    "READ_ITEM_OVERHEAD",
    "RX_BATCH",
]

DEFAULT_HIGH_WATER = 64 * 1024
"""Write-buffer high-water mark, as in asyncio (low water defaults to a quarter of it)."""

LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5
"""After this many writes to a lost connection, each further one logs a warning (asyncio)."""

RX_BATCH = 256
"""Frames drained per readiness callback: enough to amortise the C call, few enough that
timers and other file descriptors still run."""

MAX_TX_ROUNDS = 4
"""How many fill-then-flush rounds one TX pass may make before waiting for a wake-up:
a flush can free room at once (the software pipe moves slots synchronously)."""

EPHEMERAL_PORTS = range(49152, 65536)
"""Where ``local_addr=(ip, 0)`` picks a free UDP port (the IANA dynamic range)."""

CLOSE_STALL_TIMEOUT = 2.0
"""A graceful close waits for every queued frame to leave, however long that takes, as
long as frames keep leaving: it gives up (and counts and logs what it drops) only once no
frame has left for between one and two of these periods in a row."""

DEFAULT_READ_BUFFER = 212992
"""Bytes a paused endpoint keeps for its protocol (Linux's ``net.core.rmem_default``)."""

READ_ITEM_OVERHEAD = 256
"""What each held datagram or frame costs against the read buffer on top of its length,
so that a flood of tiny datagrams is bounded too (the kernel charges a buffer's truesize,
of which the payload is only a part)."""

PAUSED_TX_POLL_INTERVAL = 0.005
"""How often TX is retried for a port whose TX-room signal comes as read readiness
(the software pipe) while its reader is paused and the TX ring is full."""

DRAIN_POLL_INTERVAL = 0.001
"""While draining for a close, how often to re-try TX when no wake-up is due."""

LINK_WATCH_INTERVAL = 0.5
"""How often a port is asked for an error its fd may have reported unseen (uvloop stops
watching an fd on error without telling anyone)."""
