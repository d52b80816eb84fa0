"""Drive a KATCP device with katcp-python 0.9.3's BlockingClient (Python 3.9).

Usage: ``python kp_client.py HOST PORT < plan.json``. The plan is a JSON list
of steps; the script prints one JSON object: ``{"protocol": "5.1-BIMT",
"results": [...]}`` with one result per step. Bytes travel as latin-1
strings so that every byte value survives JSON.

Steps:

* ``{"op": "request", "name": n, "args": [...], "mid": bool|null}``: a
  blocking request; result ``{"reply": [...], "mid": m, "informs": [[...]],
  "inform_mids": [...]}``.
* ``{"op": "statuses"}``: a ``?watchdog`` round trip (a barrier), then every
  ``#sensor-status`` received so far and not yet returned (argument lists).
* ``{"op": "wait_statuses", "count": k}``: wait (bounded) until ``k``
  ``#sensor-status`` informs are waiting, then return them as ``statuses``.
* ``{"op": "wait_disconnect"}``: wait (bounded) for the connection to drop;
  result ``true`` if it did.
"""

import json
import queue
import sys

import katcp

TIMEOUT = 5.0


def text(raw):
    return raw.decode("latin-1")


class Client(katcp.BlockingClient):
    """Collects asynchronous #sensor-status informs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.statuses = queue.Queue()

    def inform_sensor_status(self, msg):
        """Queue a #sensor-status for the plan."""
        self.statuses.put([text(a) for a in msg.arguments])


def drain(statuses):
    items = []
    while not statuses.empty():
        items.append(statuses.get_nowait())
    return items


def run_step(client, step):
    op = step["op"]
    if op == "request":
        msg = katcp.Message.request(step["name"], *[a.encode("latin-1") for a in step["args"]])
        reply, informs = client.blocking_request(msg, timeout=TIMEOUT, use_mid=step.get("mid"))
        return {"reply": [text(a) for a in reply.arguments],
                "mid": reply.mid and reply.mid.decode(),
                "informs": [[text(a) for a in i.arguments] for i in informs],
                "inform_mids": [i.mid and i.mid.decode() for i in informs]}
    if op == "statuses":
        client.blocking_request(katcp.Message.request("watchdog"), timeout=TIMEOUT)
        return drain(client.statuses)
    if op == "wait_statuses":
        return [client.statuses.get(timeout=TIMEOUT) for _ in range(step["count"])]
    if op == "wait_disconnect":
        return client.wait_disconnected(TIMEOUT)
    raise ValueError("unknown step %r" % (op,))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    plan = json.load(sys.stdin)
    client = Client(host, port, timeout=TIMEOUT)
    client.start(timeout=TIMEOUT)
    results = []
    try:
        if not client.wait_protocol(TIMEOUT):
            raise RuntimeError("no protocol information from the device")
        protocol = str(client.protocol_flags)
        for step in plan:
            try:
                results.append(run_step(client, step))
            except Exception as exc:  # reported to the test, which fails on it
                results.append({"error": "%s: %s" % (type(exc).__name__, exc)})
    finally:
        client.stop()
        client.join(TIMEOUT)
    json.dump({"protocol": protocol, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
