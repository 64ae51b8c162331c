"""The UDP fast path in C: classify a received batch and build a batch of UDP frames,
one C call per batch.

:class:`FastClassifier` gives, for every frame, exactly the verdict of
:func:`aionetmap.stack.classify.classify`; :class:`FastUdpBuilder` writes exactly the bytes of
:func:`aionetmap.stack.udp.build_udp_frame`. The Python stack stays the reference and handles
whatever the classifier marks ``KIND_SLOW`` (ARP, ICMP, fragments, closed ports).

The classifier is in :mod:`.fast_classifier`, the builder and its destination table in
:mod:`.fast_builder`; this module gathers them.
"""

from aionetmap._native.fast_builder import DestinationTable, FastUdpBuilder
from aionetmap._native.fast_classifier import FastClassifier
from aionetmap._native.fast_common import (
    KIND_DELIVER,
    KIND_DROP,
    KIND_SLOW,
    MAX_UDP_PAYLOAD,
    inet_checksum,
)

__all__ = [
    "KIND_DELIVER",
    "KIND_DROP",
    "KIND_SLOW",
    "MAX_UDP_PAYLOAD",
    "DestinationTable",
    "FastClassifier",
    "FastUdpBuilder",
    "inet_checksum",
]
