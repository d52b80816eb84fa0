"""A headless Chromium driven over the DevTools protocol, with the standard
library only (a minimal WebSocket client). No tests here.

:func:`find_chromium` returns the browser, installing Debian's ``chromium``
package when it is missing and we are root (as ``.ci/run`` does); it
returns None with the reason when that cannot be done.
"""

from __future__ import absolute_import, division, print_function


import base64
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import threading

from six.moves.urllib.parse import urlsplit
from six.moves.urllib.request import urlopen

from katcp_sync import compat
from script_support import run_script, wait


def _which(name):
    """shutil.which (3.3+), or distutils' find_executable on Python 2."""
    if hasattr(shutil, "which"):
        return shutil.which(name)
    from distutils.spawn import find_executable
    return find_executable(name)

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio", "--remote-debugging-port=0",
]
_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium():
    """``(path, None)`` of a Chromium, or ``(None, reason)``."""
    for name in _NAMES:
        path = _which(name)
        if path:
            return path, None
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not _which("apt-get"):
        return None, "chromium is not installed (and cannot be: not root with apt-get)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "install", "-y", "-q", "chromium"],
                    ["sh", "-c", "apt-get update -q && apt-get install -y -q chromium"]):
        try:
            code, _, err, timed_out = run_script(command, 600, env=env)
        except EnvironmentError as exc:
            return None, "installing chromium failed: %s" % exc
        if timed_out:
            return None, "installing chromium failed: no end within 600 s"
        if code == 0 and _which("chromium"):
            return _which("chromium"), None
    return None, "installing chromium failed: %s" % err.decode("utf-8", "replace").strip()[-500:]


class BrowserDoesNotRun(RuntimeError):
    """The browser exited at once (e.g. a missing library): it cannot run here."""


def _masked(payload, mask):
    """``payload`` XOR the 4-byte ``mask`` repeated (RFC 6455, 5.3)."""
    mask = bytearray(mask)
    return bytes(bytearray(b ^ mask[i % 4] for i, b in enumerate(bytearray(payload))))


class WebSocket(object):
    """A client WebSocket (RFC 6455) for text messages; reads are bounded."""

    def __init__(self, url, timeout):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout)
        self.sock.settimeout(timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n"
                           % (parts.path, parts.hostname, parts.port, key)).encode())
        self._buf = b""
        while b"\r\n\r\n" not in self._buf:
            self._recv_some()
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise compat.ConnectionError("WebSocket handshake refused: %r" % head[:200])

    def _recv_some(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("WebSocket closed")
        self._buf += data

    def _take(self, count):
        while len(self._buf) < count:
            self._recv_some()
        data, self._buf = self._buf[:count], self._buf[count:]
        return data

    def send(self, text):
        payload = text.encode("utf-8")
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        self.sock.sendall(header + mask + _masked(payload, mask))

    def recv(self):
        """The next text message (continuations joined; pings answered)."""
        parts = []
        while True:
            first, second = bytearray(self._take(2))
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length, = struct.unpack("!H", self._take(2))
            elif length == 127:
                length, = struct.unpack("!Q", self._take(8))
            mask = self._take(4) if second & 0x80 else None
            payload = self._take(length)
            if mask:
                payload = _masked(payload, mask)
            if opcode == 0x8:
                raise EOFError("WebSocket closed by the browser")
            if opcode == 0x9:
                self.sock.sendall(struct.pack("!BB", 0x8A, 0x80) + b"\0\0\0\0")
                continue
            if opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if first & 0x80:
                    return b"".join(parts).decode("utf-8")

    def close(self):
        self.sock.close()


class Browser(object):
    """A headless Chromium with one page, driven over DevTools.

    Use as a context manager; every wait is bounded by ``timeout``.
    """

    def __init__(self, path, timeout=20.0, width=1200, height=760):
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="katcp-web-chromium-")
        with open(os.devnull, "wb") as devnull:
            self.proc = subprocess.Popen(
                [path] + CHROMIUM_FLAGS + ["--user-data-dir=" + self._profile,
                                           "--window-size=%d,%d" % (width, height), "about:blank"],
                stdout=devnull, stderr=subprocess.PIPE)
        self._ws = None
        self._id = 0
        self._drain = None
        try:
            port = self._devtools_port()
            # Keep reading its log so that a full pipe never stalls the browser.
            self._drain = threading.Thread(target=self.proc.stderr.read, name="chromium-stderr")
            self._drain.start()
            response = urlopen("http://127.0.0.1:%d/json/list" % port, timeout=timeout)
            try:
                targets = json.loads(response.read().decode())
            finally:
                response.close()
            page = next(t for t in targets if t.get("type") == "page")
            self._ws = WebSocket(page["webSocketDebuggerUrl"], timeout)
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, timeout=90.0):
        """Read ``DevTools listening on ws://127.0.0.1:PORT/...`` from stderr.

        Raises:
            BrowserDoesNotRun: the browser exited first.
            RuntimeError: it did not say so within ``timeout`` seconds (a
                loaded machine starts it slowly, hence the long wait).
        """
        deadline = compat.monotonic() + timeout
        seen = b""
        while compat.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], deadline - compat.monotonic())
            if not ready:
                break
            line = self.proc.stderr.readline()
            if not line:
                raise BrowserDoesNotRun("chromium exited (status %s): %s" % (
                    wait(self.proc, 10), seen.decode("utf-8", "replace")[-1000:]))
            seen += line
            if b"DevTools listening on ws://" in line:
                address = line.split(b"ws://", 1)[1].split(b"/", 1)[0].decode()
                return int(address.rsplit(":", 1)[1])
        raise RuntimeError("chromium did not start its DevTools server: %s"
                           % seen.decode("utf-8", "replace")[-1000:])

    def call(self, method, **params):
        """Send a DevTools command; return its result (events are skipped)."""
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError("%s failed: %s" % (method, message["error"]))
                return message.get("result", {})

    def evaluate(self, expression, timeout=None):
        """Evaluate JavaScript in the page (awaiting a promise); return its value."""
        timeout = self.timeout if timeout is None else timeout
        self._ws.sock.settimeout(timeout + 5)
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True, timeout=int(timeout * 1000))
        if "exceptionDetails" in result:
            raise RuntimeError("JavaScript failed: %s" % json.dumps(result["exceptionDetails"])[:1000])
        return result["result"].get("value")

    def wait_for(self, condition, timeout=None):
        """Wait in the page until the JavaScript ``condition`` is truthy; return it.

        Raises RuntimeError (from the page) when it is not within ``timeout``.
        """
        timeout = self.timeout if timeout is None else timeout
        return self.evaluate("""new Promise(function (resolve, reject) {
            var deadline = Date.now() + %d;
            (function check() {
                var value;
                try { value = (%s); } catch (e) { value = null; }
                if (value) { resolve(value); }
                else if (Date.now() > deadline) { reject(new Error("timed out waiting for: " + %s)); }
                else { setTimeout(check, 10); }
            })();
        })""" % (int(timeout * 1000), condition, json.dumps(condition)), timeout + 1)

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as out:
            out.write(base64.b64decode(data))

    def close(self):
        if self._ws is not None:
            self._ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            if wait(self.proc, 10) is None:
                self.proc.kill()
                wait(self.proc, 10)
        if self._drain is not None:
            self._drain.join(10)
        self.proc.stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
