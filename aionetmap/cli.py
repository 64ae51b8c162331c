"""Command-line entry point (``python -m aionetmap``): argument parsing only."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aionetmap", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="UDP echo server on a built-in virtual link (no NIC needed)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        print("aionetmap demo: not implemented yet (see issue 6)", file=sys.stderr)
        return 2
    return 0
