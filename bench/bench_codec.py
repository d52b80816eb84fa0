"""Codec benchmark: messages per second parsed and formatted.

Compares, in one run and with the same timing loop:

* katcp_sync: ``parse(line)``, ``msg.encode()``, and the stream path
  ``LineSplitter.feed(chunk)`` + ``parse`` per line;
* aiokatcp: ``Message.parse(line + b"\\n")``, ``bytes(msg)``, and its
  compiled ``katcp_codec.Parser.append(chunk)`` for the stream path;
* katcp-python 0.9.3 (in its own Python 3.9 venv, see _side.py):
  ``MessageParser().parse(line)`` and ``bytes(msg)``.

Ratios are katcp_sync's rate over the other library's (above 1 = we are
faster).
"""

import timeit
from typing import Any, Callable, Dict, List, Optional

import _side

#: Shared by this process and the katcp-python snippet, so both use the
#: same loop: ``timeit`` runs ``fn(arg)`` ``number`` times per repeat and we
#: keep the best repeat. The clock is the process's CPU time: the codecs are
#: single-threaded and never wait, and CPU time does not count the moments
#: other processes on a busy machine took the CPU away.
TIMER_SOURCE = '''
import time
import timeit

# Settle the C allocator as in a long-running process that has handled one
# large message: freeing a big block raises glibc's mmap and trim thresholds,
# so that the megabytes each 64 KiB stream call allocates and frees are not
# handed back to the kernel and faulted in again on every call. Without this
# whichever library happens to run while the heap is trimmed pays page faults
# (3x slower on long lines).
_block = bytearray(16 << 20)
del _block

def measure(fn, arg, budget, repeats):
    """Best rate (calls per CPU second) of fn(arg), each repeat taking ~budget s."""
    timer = timeit.Timer("fn(arg)", globals={"fn": fn, "arg": arg}, timer=time.process_time)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= budget or number >= 10 ** 7:
            break
        number *= 2 if elapsed * 8 > budget else 8
    best = min([elapsed] + timer.repeat(repeats - 1, number))
    return number / best
'''
exec(TIMER_SOURCE)
measure: Callable[..., float]

STREAM_COPIES = 100
MAX_LINE = 2 ** 22

#: (label, wire line without end of line).
MESSAGES = [
    ("?watchdog", b"?watchdog"),
    ("?add[12] 3 6", b"?add[12] 3 6"),
    ("#sensor-status", b"#sensor-status 1234567890.123456 1 some.sensor nominal 3.14159"),
    ("escape-heavy", b"!log-msg[7] ok \\@ a\\_b\\_c tab\\there nul\\0 esc\\e back\\\\slash "
                     b"line\\nbreak cr\\r \\@ mixed\\_\\t\\0\\e\\\\end"),
    # Printable ASCII without the backslash, so that no escape is needed.
    ("64 KiB argument", b"#blob " + bytes(range(33, 92)) * (65536 // 59) + b"tail"),
]

KP_SNIPPET = TIMER_SOURCE + '''
import json, sys
import katcp
budget, repeats = float(sys.argv[1]), int(sys.argv[2])
lines = [l.encode("latin-1") for l in json.loads(sys.stdin.read())]
parser = katcp.MessageParser()
out = []
for line in lines:
    msg = parser.parse(line)
    out.append({"parse": measure(parser.parse, line, budget, repeats),
                "format": measure(bytes, msg, budget, repeats)})
print(json.dumps(out))
'''


def _katcp_python(budget: float, repeats: int) -> List[Dict[str, float]]:
    import json
    import subprocess
    python = _side.katcp_python_env()
    payload = json.dumps([line.decode("latin-1") for _, line in MESSAGES])
    done = subprocess.run([python, "-c", KP_SNIPPET, str(budget), str(repeats)],
                          input=payload.encode(), capture_output=True, timeout=900)
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise _side.Skipped("katcp-python run failed: %s" % " ".join(tail))
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def _ours(budget: float, repeats: int) -> List[Dict[str, float]]:
    from katcp_sync.linebuffer import LineSplitter
    from katcp_sync.message import parse

    # One splitter (and one katcp_codec parser below) serves every call, as
    # on a connection; chunks hold whole lines, so no state carries over.
    feed = LineSplitter(MAX_LINE).feed

    def stream(chunk: bytes) -> list:
        return [parse(line) for line in feed(chunk)]

    out = []
    for _, line in MESSAGES:
        msg = parse(line)
        chunk = (line + b"\n") * STREAM_COPIES
        out.append({"parse": measure(parse, line, budget, repeats),
                    "format": measure(type(msg).encode, msg, budget, repeats),
                    "stream": measure(stream, chunk, budget, repeats) * STREAM_COPIES})
    return out


def _aiokatcp(budget: float, repeats: int) -> List[Dict[str, float]]:
    aiokatcp = _side.import_optional("aiokatcp")
    out = []
    for _, line in MESSAGES:
        wire = line + b"\n"
        msg = aiokatcp.Message.parse(wire)
        out.append({"parse": measure(aiokatcp.Message.parse, wire, budget, repeats),
                    "format": measure(bytes, msg, budget, repeats)})
    return out


def _katcp_codec(budget: float, repeats: int) -> List[Dict[str, float]]:
    codec = _side.import_optional("katcp_codec")

    stream = codec.Parser(MAX_LINE).append

    return [{"stream": measure(stream, (line + b"\n") * STREAM_COPIES, budget, repeats)
             * STREAM_COPIES} for _, line in MESSAGES]


def _try(fn: Callable[..., List[Dict[str, float]]], *args: Any) -> Any:
    try:
        return fn(*args)
    except _side.Skipped as exc:
        return "skipped: %s" % exc


def _ratio(ours: float, theirs: Optional[float]) -> str:
    return "%.2fx" % (ours / theirs) if theirs else "-"


def run(quick: bool) -> List[Dict[str, Any]]:
    """Return one row per (message, operation)."""
    budget, repeats = (0.005, 2) if quick else (0.1, 9)
    ours = _ours(budget, repeats)
    others = {
        "aiokatcp": _try(_aiokatcp, budget, repeats),
        "katcp_codec": _try(_katcp_codec, budget, repeats),
        "katcp 0.9.3": _try(_katcp_python, budget, repeats),
    }
    for lib, result in others.items():
        if isinstance(result, str):
            print("%s: %s" % (lib, result))
    rows = []
    for i, (label, _) in enumerate(MESSAGES):
        for op in ("parse", "format", "stream"):
            row: Dict[str, Any] = {"message": label, "op": op,
                                   "katcp_sync msg/s": ours[i][op]}
            for lib, result in others.items():
                theirs = None if isinstance(result, str) else result[i].get(op)
                row[lib + " msg/s"] = "-" if theirs is None else theirs
                row["vs " + lib] = _ratio(ours[i][op], theirs)
            rows.append(row)
    return rows
