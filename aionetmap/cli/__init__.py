"""The command line (``python -m aionetmap``, the ``aionetmap`` script) and the demo.

:mod:`~aionetmap.cli.main` parses arguments; :mod:`~aionetmap.cli.commands`,
:mod:`~aionetmap.cli.demo` and :mod:`~aionetmap.cli.roundtrip` hold the commands. Nothing
in the library imports this package.
"""
