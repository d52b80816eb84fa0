"""``python -m katcp_sync``: the ``katcp-sync`` command line tool."""

from __future__ import absolute_import, division, print_function

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
