"""Sphinx configuration for katcp_sync's documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import katcp_sync  # noqa: E402

project = "katcp_sync"
author = "katcp_sync developers"
release = katcp_sync.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
nitpicky = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
