"""http.server across Pythons, for the web view (:mod:`katcp_sync.web`).

``ThreadingHTTPServer`` (3.7's, a stand-in before) and
``BaseHTTPRequestHandler`` (a new-style class on 2.7, with
``header_content_type`` everywhere). A module of its own because
http.server is slow to import (it pulls in email, html, http.client and
ssl): ``import katcp_sync`` does not import it; ``compat.ThreadingHTTPServer``
and ``compat.BaseHTTPRequestHandler`` load it when first used (at import
time before Python 3.7, which has no module ``__getattr__``).
"""
from __future__ import absolute_import, division, print_function

import sys
import threading
from typing import Any  # noqa: F401

import six

from .language import PY2

if PY2:
    class BaseHTTPRequestHandler(six.moves.BaseHTTPServer.BaseHTTPRequestHandler, object):  # type: ignore
        """BaseHTTPServer's handler as a new-style class (super() works).

        One instance per request, on its connection's thread.
        """

        def header_content_type(self):
            # type: () -> str
            return self.headers.gettype()
else:
    class BaseHTTPRequestHandler(six.moves.BaseHTTPServer.BaseHTTPRequestHandler):  # type: ignore
        """http.server's handler, with :meth:`header_content_type` on every Python.

        One instance per request, on its connection's thread.
        """

        def header_content_type(self):
            # type: () -> str
            """The request's media type, lower case (``text/plain`` if none)."""
            return self.headers.get_content_type()

if sys.version_info >= (3, 7):
    from http.server import ThreadingHTTPServer
else:
    class ThreadingHTTPServer(six.moves.socketserver.ThreadingMixIn,  # type: ignore[no-redef]
                              six.moves.BaseHTTPServer.HTTPServer, object):
        """http.server.ThreadingHTTPServer (3.7+): one thread per connection.

        Daemon connection threads, as 3.7's; a subclass that sets
        ``daemon_threads`` False has them joined by :meth:`server_close`
        (``block_on_close``, 3.7's ThreadingMixIn). ``serve_forever`` runs
        on the thread that calls it, each request on its connection's thread.
        """

        daemon_threads = True
        block_on_close = True

        def process_request(self, request, client_address):
            # type: (Any, Any) -> None
            thread = threading.Thread(target=self.process_request_thread,
                                      args=(request, client_address))
            thread.daemon = self.daemon_threads
            if not thread.daemon and self.block_on_close:
                threads = self.__dict__.setdefault("_threads", [])
                threads[:] = [t for t in threads if t.is_alive()]
                threads.append(thread)
            thread.start()

        def server_close(self):
            # type: () -> None
            six.moves.BaseHTTPServer.HTTPServer.server_close(self)
            threads = self.__dict__.pop("_threads", [])
            if self.block_on_close:
                for thread in threads:
                    thread.join()
