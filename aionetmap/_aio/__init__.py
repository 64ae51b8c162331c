"""The asyncio glue between the ports, the stack and the transports.

Below it: :mod:`aionetmap.ports` (frames in and out of a port) and :mod:`aionetmap.stack`
(the sans-I/O host). Above it: :mod:`aionetmap.transport` and :mod:`aionetmap.interface`.
It calls upward only through the contracts in :mod:`aionetmap.protocol`.
"""
