"""Run katcp-python 0.9.3's own unit tests, optionally against katcp_sync.

Run by ``tests/test_katcp_python_suite.py`` in the katcp-python side
environment (Python 3.9, tornado 4, ``future``), with ``mock`` and ``wrapt``
on ``PYTHONPATH``. Usage::

    runner.py MODE TESTS_DIR OUT_JSON [EXCLUDED_JSON]

``TESTS_DIR`` holds katcp-python's ``test_*.py`` modules, extracted from its
sdist. MODE is

* ``collect``: import the modules with the real katcp-python and list the
  tests, marking those of tornado test cases (``AsyncTestCase`` and its
  subclasses, such as ``TimewarpAsyncTestCase``);
* ``reference``: as collect, then run the non-tornado tests with katcp-python;
* ``sync``: make ``import katcp`` (and ``katcp.<module>``) import katcp_sync
  (and ``katcp_sync.<module>``), then run the non-tornado tests that
  ``EXCLUDED_JSON`` (a list of test ids) does not name.

The result, written to ``OUT_JSON``, maps module names to
``{"error": <import error or null>, "tests": {test_id: [outcome, detail]}}``
with outcome one of ``pass``, ``fail``, ``error``, ``skip``, ``tornado``,
``excluded``, ``listed`` (collected, not run) or ``hung`` (then the run
stopped there, with exit code 3, and the caller runs the rest again).
"""

import faulthandler
import importlib
import json
import os
import pkgutil
import sys
import threading
import time
import traceback
import unittest

#: Seconds one test may take; after that it is recorded as ``hung`` and
#: the run ends with exit code 3 (the caller reruns the rest).
TEST_TIMEOUT = 15.0
HUNG_EXIT = 3


def alias_katcp_to_katcp_sync():
    """Make ``katcp`` and every ``katcp.<name>`` the katcp_sync modules.

    Each katcp_sync submodule is imported and registered under the katcp
    name, so ``import katcp.core`` and ``mock.patch("katcp.client.x")`` reach
    the very module objects katcp_sync uses (no second copy), and no
    katcp-python module can be imported any more.
    """
    import katcp_sync

    sys.modules["katcp"] = katcp_sync
    for info in pkgutil.iter_modules(katcp_sync.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module("katcp_sync." + info.name)
        sys.modules["katcp." + info.name] = module


class _Recorder(unittest.TestResult):
    def __init__(self, outcomes, on_start):
        super(_Recorder, self).__init__()
        self.outcomes = outcomes
        self.on_start = on_start
        self._started = {}

    def startTest(self, test):
        super(_Recorder, self).startTest(test)
        self._started[test.id()] = time.monotonic()
        self.outcomes[test.id()] = ["hung", "no result within %gs" % TEST_TIMEOUT]
        self.on_start(test.id())
        self.outcomes[test.id()] = ["pass", ""]

    def stopTest(self, test):
        super(_Recorder, self).stopTest(test)
        outcome = self.outcomes[test.id()]
        outcome.append(round(time.monotonic() - self._started[test.id()], 3))

    def _set(self, test, outcome, err):
        detail = self._exc_info_to_string(err, test) if err is not None else ""
        self.outcomes[test.id()] = [outcome, detail[-3000:]]

    def addError(self, test, err):
        super(_Recorder, self).addError(test, err)
        if isinstance(test, unittest.TestCase):
            self._set(test, "error", err)

    def addFailure(self, test, err):
        super(_Recorder, self).addFailure(test, err)
        self._set(test, "fail", err)

    def addSkip(self, test, reason):
        super(_Recorder, self).addSkip(test, reason)
        self.outcomes[test.id()] = ["skip", reason]

    def addExpectedFailure(self, test, err):
        super(_Recorder, self).addExpectedFailure(test, err)
        self._set(test, "pass", None)

    def addUnexpectedSuccess(self, test):
        super(_Recorder, self).addUnexpectedSuccess(test)
        self.outcomes[test.id()] = ["fail", "unexpected success"]


def _flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            for test in _flatten(item):
                yield test
        else:
            yield item


def main(argv):
    mode, tests_dir, out_path = argv[1:4]
    excluded = set()
    if len(argv) > 4:
        with open(argv[4]) as f:
            excluded = set(json.load(f))
    report = {}

    def write_report():
        with open(out_path, "w") as f:
            json.dump(report, f, indent=1, sort_keys=True)

    watchdog = {"deadline": None}
    lock = threading.Lock()

    def on_start(test_id):
        with lock:
            watchdog["deadline"] = time.monotonic() + TEST_TIMEOUT
            watchdog["test"] = test_id

    def watch():
        while True:
            time.sleep(0.5)
            with lock:
                late = watchdog["deadline"] is not None and time.monotonic() > watchdog["deadline"]
                if late:
                    write_report()
                    sys.stderr.write("hung: %s\n" % watchdog["test"])
                    faulthandler.dump_traceback(all_threads=True)
                    sys.stderr.flush()
                    os._exit(HUNG_EXIT)

    threading.Thread(target=watch, name="kp-suite-watchdog", daemon=True).start()
    if mode == "sync":
        alias_katcp_to_katcp_sync()
    sys.path.insert(0, tests_dir)
    import tornado.testing

    names = sorted(n[:-3] for n in os.listdir(tests_dir)
                   if n.startswith("test_") and n.endswith(".py"))
    for name in names:
        entry = report[name] = {"error": None, "tests": {}}
        try:
            module = importlib.import_module(name)
        except Exception:
            entry["error"] = traceback.format_exc(limit=3)[-2000:]
            continue
        to_run = unittest.TestSuite()
        for test in _flatten(unittest.defaultTestLoader.loadTestsFromModule(module)):
            test_id = test.id()
            if isinstance(test, tornado.testing.AsyncTestCase):
                entry["tests"][test_id] = ["tornado", type(test).__mro__[1].__name__]
            elif mode == "collect":
                entry["tests"][test_id] = ["listed", ""]
            elif test_id in excluded:
                entry["tests"][test_id] = ["excluded", ""]
            else:
                to_run.addTest(test)
        if to_run.countTestCases():
            to_run.run(_Recorder(entry["tests"], on_start))
    with lock:
        watchdog["deadline"] = None
        write_report()
    sys.stdout.flush()
    # katcp-python's tests may leave non-daemon threads behind
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
