"""The pure-Python ceiling: how fast can a KATCP server in Python be at all?

A deliberately minimal server -- one thread, ``selectors``, no classes, no
parsing beyond what the replies need, no threads or locks -- answers exactly
the requests of ``bench_server``'s load generator:

* ``?watchdog[id]`` -> ``!watchdog[id] ok``; ``?bench-echo[id] args`` ->
  ``!bench-echo[id] ok args``;
* ``?sensor-sampling bench.counter event`` subscribes the client;
  ``?bench-spam N`` builds ``#sensor-status`` for 1..N once each and appends
  it to every subscriber's output buffer (flushed with non-blocking
  ``send()`` every few hundred values), then replies.

It is driven by the *same* load generator as ``bench_server`` (imported from
it), in the same run as katcp_sync's server, and each row gives katcp_sync's
rate as a fraction of the ceiling's. Nothing written in Python on top of
``socket``/``selectors`` can go much faster, so the fraction says how much
of katcp_sync's time is its own (parsing, dispatch, ordering, thread safety)
rather than the interpreter's and the kernel's.
"""

import sys
from typing import Any, Dict, List

import bench_server

CEILING_SERVER = r'''
import selectors, socket, sys, threading, time

sel = selectors.DefaultSelector()
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(128)
listener.setblocking(False)
out = {}        # socket -> list of pending bytes
partial = {}    # socket -> bytes of an incomplete line
subscribers = []


def flush(sock):
    data = b"".join(out[sock])
    try:
        sent = sock.send(data)
    except BlockingIOError:
        sent = 0
    rest = data[sent:]
    out[sock] = [rest] if rest else []
    sel.modify(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if rest else 0))


def spam(n, reply, sock):
    fmt = b"#sensor-status %.6f 1 bench.counter nominal %d\n"
    for i in range(1, n + 1):
        line = fmt % (time.time(), i)
        for sub in subscribers:
            out[sub].append(line)
        if not i & 255:
            for sub in subscribers:
                flush(sub)
    out[sock].append(reply)
    for sub in subscribers:
        flush(sub)


def handle(sock, line):
    head, _, args = line.partition(b" ")
    name = head[1:].split(b"[", 1)[0]
    reply = b"!" + head[1:] + b" ok"
    if name == b"watchdog":
        out[sock].append(reply + b"\n")
    elif name == b"bench-echo":
        out[sock].append(reply + (b" " + args if args else b"") + b"\n")
    elif name == b"sensor-sampling":
        subscribers.append(sock)
        out[sock].append(b"#sensor-status %.6f 1 bench.counter nominal 0\n" % time.time())
        out[sock].append(reply + b" " + args + b"\n")
    elif name == b"bench-spam":
        spam(int(args), reply + b"\n", sock)
    else:
        out[sock].append(b"!" + head[1:] + b" invalid Unknown\\_request.\n")


def readable(sock):
    try:
        data = sock.recv(65536)
    except ConnectionError:
        data = b""
    if not data:
        sel.unregister(sock)
        if sock in subscribers:
            subscribers.remove(sock)
        del out[sock], partial[sock]
        sock.close()
        return
    lines = (partial[sock] + data).split(b"\n")
    partial[sock] = lines.pop()
    for line in lines:
        if line:
            handle(sock, line)
    flush(sock)


sel.register(listener, selectors.EVENT_READ)
print("PORT %d" % listener.getsockname()[1], flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), listener.close()), daemon=True).start()
while listener.fileno() != -1:
    for key, mask in sel.select(0.2):
        sock = key.fileobj
        if sock is listener:
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            out[conn], partial[conn] = [], b""
            sel.register(conn, selectors.EVENT_READ)
        else:
            if mask & selectors.EVENT_READ:
                readable(sock)
            if mask & selectors.EVENT_WRITE and sock in out:
                flush(sock)
'''


def servers() -> Dict[str, Any]:
    def ceiling() -> bench_server.ServerProcess:
        return bench_server.ServerProcess(sys.executable, CEILING_SERVER)

    return {"katcp_sync": bench_server.servers()["katcp_sync"], "ceiling": ceiling}


def run(quick: bool) -> List[Dict[str, Any]]:
    """bench/run.py entry point: katcp_sync and the ceiling, one row per measure."""
    results = bench_server.measure_servers(servers(), quick)
    rows = []
    for label, *_ in bench_server.MEASURES:
        ours = results.get("katcp_sync", {}).get(label)
        ceiling = results.get("ceiling", {}).get(label)
        rows.append({"measure": label, "katcp_sync": ours or "-", "ceiling": ceiling or "-",
                     "katcp_sync / ceiling": ("%.0f%%" % (100 * ours / ceiling))
                     if ours and ceiling else "-"})
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--serve":
        exec(compile(CEILING_SERVER, "<ceiling server>", "exec"))
    else:
        sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
        from run import format_table
        print(format_table(run("--quick" in sys.argv)))
