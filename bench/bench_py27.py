"""Python 2.7: katcp_sync on 2.7 against katcp-python 0.9.3 on 2.7, and against itself on 3.11.

Server rows: bench_server's measures (its raw-socket load generator, in this
process) against bench_server's device run by three interpreters at once:
katcp_sync on Python 2.7, katcp-python 0.9.3 on Python 2.7 (the same source,
import changed) and katcp_sync on this Python. Full runs take the best of
bench_server's round-robin rounds.

Client rows: ``?watchdog`` round trips per second through one
``BlockingClient.blocking_request`` (``sequential``) or 8 threads sharing it,
against bench_client's katcp_sync tutorial device on this Python. Each client
runs in its own process, the same Python 2/3 driver (``_py27_driver.py``):
katcp_sync on 2.7, katcp 0.9.3 on 2.7, katcp_sync on this Python; they take
turns repeat by repeat, in rotating order; best of each.

The Python 2.7 interpreters are cached virtualenvs (``_side.py27_env``); if
there is no Python 2.7 the bench prints why and gives no rows. ``vs katcp
0.9.3 2.7`` is katcp_sync 2.7's rate over katcp-python's (issue 13: at least
2x); ``vs katcp_sync 3.11`` is katcp_sync 2.7's rate over katcp_sync's on this
Python (at least 0.67x, i.e. within 1.5x).
"""

import os
import platform
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import _side
import bench_client
import bench_server

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DRIVER = os.path.join(HERE, "_py27_driver.py")
#: Client modes (see _py27_driver.py).
MODES = ["sequential", "threads:8"]

OURS_27 = "katcp_sync 2.7"
KP_27 = "katcp 0.9.3 2.7"
OURS_3 = "katcp_sync %s" % ".".join(platform.python_version_tuple()[:2])


def _tree() -> str:
    """The tree whose katcp_sync is measured (an A/B run of run.py sets PYTHONPATH to it)."""
    return os.environ.get("PYTHONPATH") or ROOT


def _env(python: str) -> Dict[str, str]:
    """The environment of a child running ``python``: katcp_sync from :func:`_tree`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = _tree()
    env.pop("PYTHONHOME", None)
    return env


def _interpreters() -> Dict[str, Callable[[], str]]:
    """Who runs what: label -> a function returning the interpreter (may raise Skipped)."""
    return {OURS_27: lambda: _side.py27_env("sync27"),
            KP_27: lambda: _side.py27_env("kp27"),
            OURS_3: lambda: sys.executable}


# -- servers ---------------------------------------------------------------------------------


def _server_starters() -> Dict[str, Callable[[], bench_server.ServerProcess]]:
    def starter(label: str, find: Callable[[], str]) -> Callable[[], bench_server.ServerProcess]:
        source = (bench_server.KATCP_PYTHON_SERVER if label == KP_27
                  else bench_server.KATCP_SYNC_SERVER)
        # (cwd: ``python -c`` puts it first on sys.path)
        return lambda: bench_server.ServerProcess(find(), source, _env(find()), cwd=_tree())
    return {label: starter(label, find) for label, find in _interpreters().items()}


# -- clients ---------------------------------------------------------------------------------


class _Driver:
    """One client library in a child process running _py27_driver.py."""

    def __init__(self, python: str, lib: str, port: int) -> None:
        self._proc = subprocess.Popen([python, DRIVER, lib, str(port)], env=_env(python),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, universal_newlines=True)
        if self._proc.stdout.readline().strip() != "ready":
            self.close()
            raise RuntimeError("%s client on %s did not start" % (lib, python))

    def rate(self, mode: str, count: int) -> float:
        self._proc.stdin.write("%s %d\n" % (mode, count))
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("client process ended")
        return float(line)

    def close(self) -> None:
        _side.end_process(self._proc)


def measure_clients(quick: bool) -> Dict[str, Dict[str, float]]:
    """Best rate ``{label: {mode: req/s}}`` of each client, taking turns."""
    count, repeats = (400, 1) if quick else (4000, 6)
    results: Dict[str, Dict[str, float]] = {}
    drivers: Dict[str, _Driver] = {}
    with bench_client.DeviceProcess(bench_client.SERVERS["katcp_sync tutorial server"]) as port:
        try:
            for label, find in _interpreters().items():
                try:
                    drivers[label] = _Driver(find(), "katcp" if label == KP_27 else "katcp_sync",
                                             port)
                except (_side.Skipped, RuntimeError, OSError) as exc:
                    print("%s client: skipped: %s" % (label, exc))
                    continue
                results[label] = dict.fromkeys(MODES, 0.0)
            for mode, label, driver in bench_client.rotating_turns(drivers, MODES, repeats):
                try:
                    rate = driver.rate(mode, count)
                except (RuntimeError, OSError, ValueError) as exc:
                    print("%s client: %s: failed: %s" % (label, mode, exc))
                    continue
                results[label][mode] = max(results[label][mode], rate)
        finally:
            for driver in drivers.values():
                driver.close()
    return results


# -- the table -------------------------------------------------------------------------------


def _ratio(ours: Optional[float], theirs: Optional[float]) -> str:
    return "%.2fx" % (ours / theirs) if ours and theirs else "-"


def _row(measure: str, rates: Dict[str, Optional[float]]) -> Dict[str, Any]:
    ours = rates.get(OURS_27)
    return {"measure": measure,
            OURS_27: rates.get(OURS_27) or "-",
            KP_27: rates.get(KP_27) or "-",
            "vs " + KP_27: _ratio(ours, rates.get(KP_27)),
            OURS_3: rates.get(OURS_3) or "-",
            "vs " + OURS_3: _ratio(ours, rates.get(OURS_3))}


def run(quick: bool) -> List[Dict[str, Any]]:
    """bench/run.py entry point: server rows, then client rows."""
    try:
        _side.py27_env("sync27")
    except _side.Skipped as exc:
        print("Python 2.7: skipped: %s" % exc)
        return []
    started = time.perf_counter()
    servers = bench_server.measure_servers(_server_starters(), quick)
    rows = [_row("server: " + label, {name: servers[name].get(label) for name in servers})
            for label, *_ in bench_server.MEASURES]
    clients = measure_clients(quick)
    for mode in MODES:
        callers = "sequential" if mode == "sequential" else "%s threads" % mode.split(":")[1]
        rows.append(_row("client: blocking_request %s (req/s)" % callers,
                         {name: clients[name].get(mode) for name in clients}))
    print("(%.0f s)" % (time.perf_counter() - started))
    return rows


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    from run import format_table
    print(format_table(run("--quick" in sys.argv)))
