"""Tunables shared by the transports (asyncio's own defaults where one exists)."""

from __future__ import annotations

__all__ = [
    "CLOSE_DRAIN_TIMEOUT",
    "DEFAULT_HIGH_WATER",
    "DRAIN_POLL_INTERVAL",
    "EPHEMERAL_PORTS",
    "LINK_WATCH_INTERVAL",
    "LOG_THRESHOLD_FOR_CONNLOST_WRITES",
    "MAX_TX_ROUNDS",
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

CLOSE_DRAIN_TIMEOUT = 1.0
"""How long a graceful close waits for queued frames to reach a peer that is not reading,
before giving up on them."""

DRAIN_POLL_INTERVAL = 0.001
"""While draining for a close, how often to re-try TX when no wake-up is due."""

LINK_WATCH_INTERVAL = 0.5
"""How often a port is asked for an error its fd may have reported unseen (uvloop stops
watching an fd on error without telling anyone)."""
