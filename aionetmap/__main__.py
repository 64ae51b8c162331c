"""``python -m aionetmap``: see :mod:`aionetmap.cli`."""

from aionetmap.cli.main import main

raise SystemExit(main())
