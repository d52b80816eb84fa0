"""An aiokatcp device in a thread, for the client tests (Python 3 only: async syntax).

Imported through :mod:`client_support`, which stands in for it on Python 2.
"""

import asyncio
import random
import threading

from optional import optional_import, skip_without

aiokatcp, needs_aiokatcp = optional_import("aiokatcp", "the aiokatcp device in client tests")

WAIT = 5.0  # upper bound of every wait in the client tests


class AioServer(aiokatcp.DeviceServer if aiokatcp else object):  # type: ignore[misc]
    """An aiokatcp device (5.1-MIB) with a few requests for client tests."""

    VERSION = "client-test-1.0"
    BUILD_STATE = "client-test-1.0.0"

    async def request_echo(self, ctx, *args: bytes) -> tuple:
        """Reply with the arguments."""
        return tuple(args)

    async def request_slow(self, ctx, delay: float) -> None:
        """Reply after delay seconds."""
        await asyncio.sleep(delay)

    async def request_jitter(self, ctx, tag: bytes) -> bytes:
        """Reply with tag after a random short delay (out of order)."""
        await asyncio.sleep(random.random() * 0.002)
        return tag

    async def request_listing(self, ctx, count: int) -> None:
        """Send count informs, then reply ok count."""
        ctx.informs([(b"item", i) for i in range(count)])

    async def request_broadcast(self, ctx, text: str) -> None:
        """Send #news text to every client, then reply."""
        self.mass_inform("news", text)


class AioServerThread:
    """Runs an :class:`AioServer` on an asyncio loop in a helper thread."""

    def __init__(self, port: int = 0, server_class=AioServer) -> None:
        skip_without(aiokatcp, "aiokatcp", "the aiokatcp device in client tests")
        self._server_class = server_class
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="asyncio_client_test")
        self._thread.start()
        self.server = None
        self.port = port
        self.start()

    def _call(self, coro_fn):
        return asyncio.run_coroutine_threadsafe(coro_fn(), self._loop).result(WAIT)

    def start(self) -> None:
        """(Re)start the server on ``self.port`` (a free one the first time)."""
        async def start():
            self.server = self._server_class("127.0.0.1", self.port)
            await self.server.start()
            self.port = self.server.sockets[0].getsockname()[1]
        self._call(start)

    def stop(self) -> None:
        """Stop the server (closes client connections)."""
        async def stop():
            await self.server.stop()
        self._call(stop)

    def close(self) -> None:
        """Stop the server and its thread."""
        try:
            self.stop()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(WAIT)
            self._loop.close()
