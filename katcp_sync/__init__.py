"""katcp_sync: KATCP device servers and clients on threads and selectors.

The public names follow katcp-python, so that porting is a change of import.
"""

__version__ = "0.1.0"
