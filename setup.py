"""The metadata lives in setup.cfg; here only what setuptools 44 (the newest
for Python 2.7) cannot take from there.

* The version, read from ``katcp_sync/version.py`` as text: setup.cfg's
  ``attr:`` would import the package, before six and wrapt are installed.
* The example scripts as data files (``share/katcp_sync/examples``), so that
  ``katcp-sync serve``/``demo`` work from a wheel too: setup.cfg's
  ``[options.data_files]`` expands no wildcards before setuptools 51.
"""
import glob
import io
import os
import re

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))

with io.open(os.path.join(HERE, "katcp_sync", "version.py"), encoding="utf-8") as f:
    VERSION = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)

# Paths relative to setup.py, as setuptools wants them.
EXAMPLES = sorted(os.path.relpath(path, HERE)
                  for path in glob.glob(os.path.join(HERE, "examples", "*.py")))

setup(version=VERSION, data_files=[("share/katcp_sync/examples", EXAMPLES)])
