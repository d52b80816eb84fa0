"""Run katcp_sync's benchmarks and print one table per bench.

Usage::

    python3 bench/run.py [--quick] [NAME ...]
    python3 bench/run.py --against REV [--rounds N] [--quick] [NAME ...]

``NAME`` is ``codec`` for ``bench/bench_codec.py``; with no names every
``bench/bench_*.py`` runs. See bench/README.md for the plug-in contract.

``--against REV`` is an A/B run: each bench runs in turn on this tree and on
a checkout of git revision ``REV`` (the same bench code measures both, the
peers are left out), ``--rounds`` times alternately, and one table shows the
best katcp_sync rate of each and their ratio.
"""

import argparse
import glob
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)  # so that benches (and this script) can `import _side`

from _side import ONLY_OURS_ENV  # noqa: E402


def discover() -> Dict[str, str]:
    """Map bench name -> file, for every ``bench_<name>.py`` beside this script."""
    found = {}
    for path in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
        found[os.path.basename(path)[len("bench_"):-len(".py")]] = path
    return found


def load(name: str, path: str) -> Any:
    spec = importlib.util.spec_from_file_location("bench_" + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
    """Render dict rows as an aligned text table (columns in first-seen order)."""
    columns: List[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    cells = [[_cell(row.get(col, "")) for col in columns] for row in rows]
    widths = [max([len(col)] + [len(r[i]) for r in cells]) for i, col in enumerate(columns)]
    lines = ["  ".join(col.ljust(w) for col, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths))
              for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "%.3g" % value if abs(value) < 100 else "{:,.0f}".format(value)
    if isinstance(value, int):
        return "{:,}".format(value)
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "").replace("x", "").isdigit()


def _run_child(name: str, quick: bool, tree: str) -> List[Dict[str, Any]]:
    """Run bench ``name`` in a child Python that imports katcp_sync from ``tree``."""
    env = dict(os.environ, PYTHONPATH=tree, **{ONLY_OURS_ENV: "1"})
    argv = [sys.executable, os.path.abspath(__file__), "--json", name] + (["--quick"] if quick else [])
    done = subprocess.run(argv, env=env, cwd=tree, stdout=subprocess.PIPE, check=True)
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def _ours(row: Dict[str, Any]) -> Tuple[Tuple[str, ...], Dict[str, float]]:
    """Split a row into its label (text cells) and katcp_sync's numeric rates."""
    label = tuple(v for k, v in row.items()
                  if isinstance(v, str) and v != "-" and "katcp_sync" not in k
                  and not k.startswith(("vs ", "no spin")))
    rates = {k: float(v) for k, v in row.items()
             if "katcp_sync" in k and isinstance(v, (int, float)) and "us/" not in k}
    return label[:2], rates


def compare(name: str, quick: bool, rev: str, rounds: int) -> List[Dict[str, Any]]:
    """A/B: run bench ``name`` on this tree and on ``rev`` alternately; best of each."""
    with tempfile.TemporaryDirectory(prefix="katcp_sync-ab-") as tmp:
        old_tree = os.path.join(tmp, "old")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "-f", old_tree, rev],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            best: Dict[str, Dict[Tuple[Any, ...], float]] = {"new": {}, "old": {}}
            order: List[Tuple[Any, ...]] = []
            for turn in range(rounds):
                sides = [("new", ROOT), ("old", old_tree)]
                for side, tree in (sides if turn % 2 == 0 else sides[::-1]):
                    for row in _run_child(name, quick, tree):
                        label, rates = _ours(row)
                        for column, rate in rates.items():
                            key = label + (column,)
                            if key not in order:
                                order.append(key)
                            best[side][key] = max(rate, best[side].get(key, 0.0))
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", old_tree],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    for key in order:
        new, old = best["new"].get(key), best["old"].get(key)
        rows.append({"measure": " / ".join(key), "this tree": new or "-", rev: old or "-",
                     "new / old": "%.2fx" % (new / old) if new and old else "-"})
    return rows


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke test")
    parser.add_argument("--against", metavar="REV",
                        help="A/B run: katcp_sync of this tree against git revision REV")
    parser.add_argument("--rounds", type=int, default=3, help="alternations for --against")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("names", nargs="*", help="benches to run (default: all)")
    args = parser.parse_args(argv)
    # A run stopped with SIGTERM (kill, a CI timeout) unwinds as Ctrl-C does,
    # so --against removes its temporary worktree.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    benches = discover()
    unknown = [n for n in args.names if n not in benches]
    if unknown:
        parser.error("unknown bench %s; have: %s" % (", ".join(unknown), ", ".join(benches)))
    for name in args.names or list(benches):
        if args.json:  # a child of compare(): machine-readable rows, last line
            print(json.dumps(load(name, benches[name]).run(args.quick)))
            continue
        print("== %s ==" % name, flush=True)
        if args.against:
            rows = compare(name, args.quick, args.against, args.rounds)
        else:
            rows = load(name, benches[name]).run(args.quick)
        print(format_table(rows) if rows else "(no results)")
        print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
