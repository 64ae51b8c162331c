"""The native layer: C ring walking, the netmap ABI, AF_PACKET I/O and the UDP fast path.

Four compiled cffi modules (``_netmap``, ``_ring``, ``_packet``, ``_fast``), each built by
its ``build_*.py`` from the C files here, with its declarations taken from its headers
(``_buildutil.header_cdef``) and typed by its ``.pyi`` stub (checked against the module by
tests/native/test_native_stubs.py). Only this package and :mod:`aionetmap.ports` touch their
``lib``/``ffi``; everything above reaches the kernel through ports.
"""
