"""Run katcp_sync's benchmarks and print one table per bench.

Usage::

    python3 bench/run.py [--quick] [NAME ...]

``NAME`` is ``codec`` for ``bench/bench_codec.py``; with no names every
``bench/bench_*.py`` runs. See bench/README.md for the plug-in contract.
"""

import argparse
import glob
import importlib.util
import os
import sys
from typing import Any, Dict, List, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))


def discover() -> Dict[str, str]:
    """Map bench name -> file, for every ``bench_<name>.py`` beside this script."""
    found = {}
    for path in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
        found[os.path.basename(path)[len("bench_"):-len(".py")]] = path
    return found


def load(name: str, path: str) -> Any:
    if HERE not in sys.path:
        sys.path.insert(0, HERE)  # so benches can `import _side`
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


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke test")
    parser.add_argument("names", nargs="*", help="benches to run (default: all)")
    args = parser.parse_args(argv)
    benches = discover()
    unknown = [n for n in args.names if n not in benches]
    if unknown:
        parser.error("unknown bench %s; have: %s" % (", ".join(unknown), ", ".join(benches)))
    for name in args.names or list(benches):
        print("== %s ==" % name, flush=True)
        rows = load(name, benches[name]).run(args.quick)
        print(format_table(rows) if rows else "(no results)")
        print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
