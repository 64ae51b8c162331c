"""Only here because setuptools reads ``cffi_modules`` from setup() (cffi issue #55).

Every ``aionetmap/_native/build_*.py`` defines one out-of-line API-mode module.
"""

from pathlib import Path

from setuptools import setup

_BUILDERS = sorted(Path("aionetmap/_native").glob("build_*.py"))

setup(cffi_modules=[f"{path.as_posix()}:ffibuilder" for path in _BUILDERS])
