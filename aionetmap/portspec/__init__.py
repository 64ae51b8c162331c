"""Portspecs: libnetmap's port-name grammar in Python, plus aionetmap's ``pipe:`` and ``packet:``.

Grammar (netmap-abi.md §5.2)::

    netmap:NAME[MODE][OPTIONS]      NAME: an interface (eth0) or a pipe end (eth0{1, eth0}1)
    vale[ID]:PORT[MODE][OPTIONS]    the kernel name keeps the prefix (vale0:p1)
    MODE     -N one ring pair | ^ host rings | ^N one host ring | * NIC and host rings,
             then any mix of @N (memory id) and /FLAGS (x z t r R T)
    OPTIONS  @conf:rings=N,tx-slots=N,...   @share=PORTSPEC   (@extmem, @offset: rejected)
    pipe:NAME{ID  pipe:NAME}ID      aionetmap's software pipe, ends "a" and "b";
                                    @conf:slots=N,buf-size=N
    packet:IFNAME                   AF_PACKET; @conf:rx-frames=N,tx-slots=N,frame-size=N,sndbuf=N

The kernel never sees the ``netmap:`` prefix nor the suffixes: :func:`parse_portspec`
turns them into the fields of ``nmreq_header``/``nmreq_register``.

Two modules: :mod:`.spec` holds what parsing gives (:class:`PortSpec`, the ABI values and
name limits, the errors) and :mod:`.parser` the one parser class,
:class:`~aionetmap.portspec.parser.PortSpecParser`, behind :func:`parse_portspec`. This
package exports every public name of :mod:`.spec`, and :func:`parse_portspec`.
"""

from __future__ import annotations

from aionetmap.portspec import spec
from aionetmap.portspec.parser import parse_portspec
from aionetmap.portspec.spec import *  # noqa: F403  (the names are listed once: spec.__all__)

__all__ = ["parse_portspec"]
__all__ += spec.__all__
