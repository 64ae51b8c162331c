#!/usr/bin/env bash
# The wheel as a user gets it: build it (`pip wheel .`), build the sdist and a second wheel
# from that sdist (so a file missing from MANIFEST.in fails here), install the wheel into a
# throwaway venv with every C compiler on PATH replaced by one that fails, and use it from
# a directory outside the source tree: the compiled modules load, `doctor --json` runs, the
# demo passes (veth as root, the software pipe otherwise) without uvloop and then with the
# [uvloop] extra. `make test` runs this; it catches a missing package-data entry and any
# import that only works in-tree.
#
# Usage: scripts/wheel-smoke.sh [PYTHON]   (PYTHON: the dev venv's, with build + cffi)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${1:-$ROOT/.venv/bin/python}
work=$(mktemp -d "${TMPDIR:-/tmp}/aionetmap-wheel-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT

step() { printf 'wheel-smoke: %s\n' "$*"; }
quiet() {  # run a command, show its output only when it fails
    if ! "$@" >"$work/log" 2>&1; then
        cat "$work/log" >&2
        echo "wheel-smoke: FAILED: $*" >&2
        exit 1
    fi
}

# A copy of the files a clean clone has (tracked and new, not ignored), with the working
# tree's edits: setuptools would otherwise reuse a stale build/ left by earlier builds.
step "pip wheel . (in a clean copy of the source tree)"
mkdir "$work/src"
(
    cd "$ROOT"
    git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
        [ -e "$f" ] || continue  # deleted in the working tree
        cp --parents -- "$f" "$work/src/"
    done
)
quiet "$PYTHON" -m pip wheel --no-deps --no-build-isolation -w "$work/tree" "$work/src"
step "sdist, and a wheel built from it"
quiet "$PYTHON" -m build --sdist --no-isolation --outdir "$work/sdist" "$work/src"
quiet "$PYTHON" -m pip wheel --no-deps --no-build-isolation -w "$work/from-sdist" \
    "$work"/sdist/aionetmap-*.tar.gz
wheel=$(echo "$work"/tree/aionetmap-*.whl)
listing() { "$PYTHON" -c 'import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
print("\n".join(sorted(n for n in names if ".dist-info/" not in n)))' "$1"; }
if ! diff <(listing "$wheel") <(listing "$(echo "$work"/from-sdist/aionetmap-*.whl)"); then
    echo "wheel-smoke: FAILED: the wheel built from the sdist differs (see above)" >&2
    exit 1
fi

step "fresh venv, install $(basename "$wheel")"
quiet "$PYTHON" -m venv "$work/venv"
quiet "$work/venv/bin/python" -m pip install "$wheel"

# No compiler from here on: anything that tries to build C fails loudly.
mkdir "$work/nocc"
for cc in cc gcc c++ g++ clang x86_64-linux-gnu-gcc; do
    printf '#!/bin/sh\necho "wheel-smoke: %s called, but an installed wheel needs no compiler" >&2\nexit 1\n' \
        "$cc" >"$work/nocc/$cc"
    chmod +x "$work/nocc/$cc"
done
export PATH="$work/nocc:$PATH" CC="$work/nocc/cc"
unset PYTHONPATH
cd "$work"  # outside the source tree: nothing can be imported from there
py=$work/venv/bin/python

step "imports and compiled modules"
quiet "$py" -c '
import importlib.metadata, pathlib, sys
import aionetmap
from aionetmap._native import _fast, _netmap, _packet, _ring
venv = pathlib.Path(sys.prefix).resolve()
for mod in (aionetmap, _fast, _netmap, _packet, _ring):
    where = pathlib.Path(mod.__file__).resolve()
    assert venv in where.parents, f"{mod.__name__} imported from {where}, not the venv"
version = importlib.metadata.version("aionetmap")
assert version == aionetmap.__version__, (version, aionetmap.__version__)
typed = pathlib.Path(aionetmap.__file__).with_name("py.typed")
assert typed.exists(), "py.typed is missing"
stubs = sorted(p.name for p in pathlib.Path(_fast.__file__).parent.glob("_*.pyi"))
assert stubs == ["_fast.pyi", "_netmap.pyi", "_packet.pyi", "_ring.pyi"], stubs
print("aionetmap", version, "from", pathlib.Path(aionetmap.__file__).parent)
'
cat "$work/log"

step "aionetmap doctor --json"
quiet "$work/venv/bin/aionetmap" doctor --json
"$py" -c 'import json, sys; doc = json.load(open(sys.argv[1])); assert doc["checks"], doc' \
    "$work/log"

step "demo without uvloop"
quiet "$py" -m aionetmap demo
tail -n 1 "$work/log"

step "demo with the [uvloop] extra"
quiet "$py" -m pip install "$wheel[uvloop]"
quiet "$py" -m aionetmap demo --loop uvloop
tail -n 1 "$work/log"
step "passed"
