"""The package's version, in a module of its own so that any layer can read it."""

from __future__ import absolute_import, division, print_function

__version__ = "0.1.0"
