"""The live web page of ``katcp-sync web``: devices' sensors in a browser.

Two parts: :mod:`katcp_sync.web.model` (:class:`SensorBoard`: the devices'
sensors kept current with the high-level client, and a :class:`Subscription`
per browser) and :mod:`katcp_sync.web.view` (:class:`WebView`: the HTTP
server of the page, its static files in ``katcp_sync/web/static`` and the
Server-Sent Events stream). The command itself is :mod:`katcp_sync.cli.web`.
"""

from __future__ import absolute_import, division, print_function

from .model import HISTORY_SECONDS, HISTORY_STEP, SensorBoard, Subscription, display_value
from .view import WebView, status_css

__all__ = ["SensorBoard", "Subscription", "WebView", "status_css", "display_value",
           "HISTORY_SECONDS", "HISTORY_STEP"]
