"""Only here because setuptools reads ``cffi_modules`` from setup() (cffi issue #55).

Every ``aionetmap/_native/build_*.py`` defines one out-of-line API-mode module.
"""

import sys
from pathlib import Path

from setuptools import setup

_BUILDERS = sorted(Path("aionetmap/_native").glob("build_*.py"))

# cffi exec()s each builder, and an isolated (PEP 517) build leaves the source tree off
# sys.path: this lets the builders' "from _buildutil import ..." fallback find the helper.
sys.path.insert(0, str(Path(__file__).resolve().parent / "aionetmap" / "_native"))

# cffi builds every module against the stable ABI (.abi3.so), so the wheel says so: one
# wheel serves CPython 3.11 and later.
setup(
    cffi_modules=[f"{path.as_posix()}:ffibuilder" for path in _BUILDERS],
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
