"""Helpers for testing KATCP devices and clients; :mod:`katcp_sync.testutils` is their face.

The parts, each re-exported by :mod:`katcp_sync.testutils` under
katcp-python's ``katcp.testutils`` names:

:mod:`~katcp_sync.testing.client`
    :func:`~katcp_sync.testing.client.start_server` and the blocking test
    client with its assertions.
:mod:`~katcp_sync.testing.waiters`
    Waiting for a local sensor's values or for callbacks.
:mod:`~katcp_sync.testing.mock_req`
    Requests for a handler without a network.
:mod:`~katcp_sync.testing.fixtures`
    katcp-python's test servers, sensors and assertion mixins.
"""

from __future__ import absolute_import, division, print_function

