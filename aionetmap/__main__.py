"""``python -m aionetmap``: see :mod:`aionetmap.cli`."""

from aionetmap.cli import main

raise SystemExit(main())
