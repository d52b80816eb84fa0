"""Packaging: a wheel builds and carries what users need (console script,
py.typed, the example scripts used by ``katcp-sync serve``/``demo``); the
package's modules import each other without cycles."""

from __future__ import absolute_import, division, print_function


import glob
import io
import os
import re
import signal
import subprocess
import sys
import tarfile
import zipfile

import pytest

from script_support import ROOT, communicate, run, run_script


def _files_under(folder):
    """Paths (relative to ROOT, with /) of the files under ROOT/folder."""
    found = []
    for dirpath, _, filenames in os.walk(os.path.join(ROOT, folder)):
        for filename in filenames:
            found.append(os.path.relpath(os.path.join(dirpath, filename), ROOT).replace(os.sep, "/"))
    return found


def _read_bytes(path):
    with io.open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("wheel"))
    build = str(tmp_path_factory.mktemp("build"))
    code, stdout, stderr, _ = run_script(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", out, ROOT], 240, cwd=build)
    if code != 0:
        pytest.fail("pip wheel failed:\n%s\n%s" % (stdout.decode(), stderr.decode()))
    wheels = glob.glob(os.path.join(out, "katcp_sync-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as archive:
        yield {name: archive.read(name) for name in archive.namelist()
               if not name.endswith("/")}


def test_wheel_has_typed_package(wheel):
    assert "katcp_sync/py.typed" in wheel
    assert "katcp_sync/__init__.py" in wheel


def test_wheel_has_console_script(wheel):
    entry_points = next(v for k, v in wheel.items() if k.endswith("entry_points.txt"))
    assert b"katcp-sync = katcp_sync.cli:main" in entry_points


def test_wheel_ships_the_examples(wheel):
    shipped = {k.rsplit("/", 1)[1] for k in wheel if "/data/share/katcp_sync/examples/" in k}
    assert {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "examples", "*.py"))} <= shipped
    assert not any("/py2/" in k for k in wheel), "the tutorial's Python 2 scripts are not installed"


def _metadata(wheel):
    return next(v for k, v in wheel.items() if k.endswith(".dist-info/METADATA")).decode("utf-8")


def test_wheel_requires_six_and_wrapt_and_python2_backports_at_run_time(wheel):
    """Issue 13: six and wrapt (a range that imports on every supported
    Python); on Python 2 only backports of the standard library."""
    # Normalised: older setuptools write ``six (>=1.12)`` and ``; python_version < '3'``.
    requires = [re.sub(r"[ ()]", "", line.split(":", 1)[1]).replace("'", '"')
                for line in _metadata(wheel).splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert requires[:2] == ["six>=1.12", "wrapt>=1.14.1"]
    backports = {r.split(";")[0].split(">=")[0]: r.split(";")[1] for r in requires[2:]}
    assert backports == {name: 'python_version<"3"'
                         for name in ("futures", "selectors34", "typing", "mock")}


def test_wheel_is_universal_for_python_27_and_36_plus(wheel):
    wheel_file = next(v for k, v in wheel.items() if k.endswith(".dist-info/WHEEL")).decode()
    assert "Tag: py2-none-any" in wheel_file and "Tag: py3-none-any" in wheel_file
    requires_python = [line for line in _metadata(wheel).splitlines()
                       if line.startswith("Requires-Python:")]
    assert requires_python, "no Requires-Python"
    parts = {part.strip() for part in requires_python[0].split(":", 1)[1].split(",")}
    assert parts == {">=2.7"} | {"!=3.%d.*" % minor for minor in range(6)}


def test_wheel_ships_the_web_page(wheel):
    """``katcp-sync web`` serves these files from the installed package."""
    static = os.path.join(ROOT, "katcp_sync", "web", "static")
    names = {name for name in os.listdir(static) if os.path.isfile(os.path.join(static, name))}
    assert {"index.html", "web.css", "web.js"} <= names
    for name in names:
        assert wheel["katcp_sync/web/static/" + name] == _read_bytes(os.path.join(static, name))


# -- issue 15: licence, metadata, sdist contents, no bytecode in share/ ------------------

def test_wheel_has_license_and_author_metadata(wheel):
    licences = [k for k in wheel if k.endswith(".dist-info/LICENSE")
                or "/licenses/LICENSE" in k]
    assert licences, sorted(wheel)
    assert b"BSD 3-Clause License" in wheel[licences[0]]
    metadata = _metadata(wheel)
    assert "\nAuthor: katcp_sync developers\n" in metadata
    assert "\nHome-page: https://pypi.org/project/katcp-sync/\n" in metadata
    assert "\nLicense: BSD-3-Clause\n" in metadata


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sdist"))
    code, stdout, stderr, _ = run_script(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", out, "sdist", "-d", out],
        240, cwd=ROOT)
    if code != 0:
        pytest.fail("sdist failed:\n%s\n%s" % (stdout.decode(), stderr.decode()))
    archives = (glob.glob(os.path.join(out, "katcp-sync-*.tar.gz"))
                + glob.glob(os.path.join(out, "katcp_sync-*.tar.gz")))
    assert len(archives) == 1, archives
    with tarfile.open(archives[0]) as archive:
        return {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}


def test_sdist_carries_license_tests_docs_and_examples(sdist):
    assert {"LICENSE", "README.rst", "setup.cfg", "MANIFEST.in"} <= sdist
    for folder in ("tests", "docs", "examples"):
        expected = {path for path in _files_under(folder)
                    if os.path.splitext(path)[1] in (".py", ".rst")
                    and "/__pycache__/" not in path and "/_build/" not in path}
        assert expected and expected <= sdist, sorted(expected - sdist)
    assert not any("__pycache__" in name for name in sdist)


@pytest.mark.skipif(sys.version_info < (3,), reason="the venv module is Python 3's (.ci/run "
                    "installs into a fresh Python 2.7 virtualenv and runs the demo)")
def test_wheel_install_runs_demo_and_serve_without_bytecode_in_share(wheel, tmp_path):
    """From an installed wheel (no source checkout), `demo` and `serve` load
    the example from share/katcp_sync/examples and write no __pycache__ there
    (files that uninstalling would leave behind). Installed with --no-compile,
    so that no pip-made bytecode hides one the tool would write."""
    wheel_path = str(tmp_path / "katcp_sync-0-py2.py3-none-any.whl")
    with zipfile.ZipFile(wheel_path, "w") as archive:
        for name, data in wheel.items():
            archive.writestr(name, data)
    venv = str(tmp_path / "venv")
    code, _, err, _ = run_script([sys.executable, "-m", "venv", "--without-pip", venv], 120)
    assert code == 0, err.decode()
    python = os.path.join(venv, "bin", "python")
    # The runtime dependencies come from the environment running the tests
    # (a venv's --system-site-packages would be its base Python's, not a
    # virtualenv's): their folders are put on the new venv's path.
    code, out, err, _ = run_script(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], 60)
    assert code == 0, err.decode()
    import six      # a module
    import wrapt    # a package
    folders = {os.path.dirname(os.path.abspath(six.__file__)),
               os.path.dirname(os.path.dirname(os.path.abspath(wrapt.__file__)))}
    with io.open(os.path.join(out.decode().strip(), "runtime_deps.pth"), "w") as pth:
        pth.write(u"".join(u"%s\n" % folder for folder in sorted(folders)))
    code, _, err, _ = run_script([sys.executable, "-m", "pip", "--python", python, "install",
                                  "--no-deps", "--no-index", "--ignore-installed", "--no-compile",
                                  "-q", wheel_path], 240)
    if code != 0 and b"no such option: --python" in err:
        pytest.skip("pip too old for --python")
    assert code == 0, err.decode()
    share = os.path.join(venv, "share", "katcp_sync", "examples")
    assert os.path.isfile(os.path.join(share, "tutorial_server.py"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    # Run from an empty folder: the installed package, not this checkout.
    code, out, err, _ = run_script([python, "-c", "import katcp_sync.cli as c; print(c.__file__)"],
                                   60, cwd=str(tmp_path), env=env)
    assert venv in out.decode(), (out, err)
    code, out, err, _ = run_script([python, "-m", "katcp_sync", "demo"], 60,
                                   cwd=str(tmp_path), env=env)
    assert code == 0, err.decode()
    serve = subprocess.Popen([python, "-m", "katcp_sync", "serve", "--port", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=str(tmp_path), env=env)
    try:
        assert b"serving the tutorial's example server on 127.0.0.1:" in serve.stdout.readline()
    finally:
        serve.send_signal(signal.SIGINT)
        communicate(serve, 20)
    assert not [d for d, _, _ in os.walk(os.path.dirname(share)) if d.endswith("__pycache__")]


_LAZY_CHECK = r"""
import sys
import katcp_sync
from katcp_sync import compat
from katcp_sync.compat import net
heavy = ["http.server", "katcp_sync.resource", "katcp_sync.resource_container",
         "katcp_sync.compat.http_server"]
print(" ".join(m for m in heavy if m in sys.modules) or "-")
names = [compat.ThreadingHTTPServer, compat.BaseHTTPRequestHandler, net.ThreadingHTTPServer,
         katcp_sync.KATCPClientResource, katcp_sync.KATCPClientResourceContainer,
         katcp_sync.AttrDict, katcp_sync.resource.KATCPClientResource,
         katcp_sync.resource_types.KATCPReply, katcp_sync.inspecting_client.SensorInfo]
assert compat.ThreadingHTTPServer is net.ThreadingHTTPServer
try:
    compat.no_such_name
except AttributeError:
    print("ok")
"""


def test_import_leaves_the_web_view_and_high_level_client_unloaded():
    """``import katcp_sync`` does not load http.server (~13 ms of ~90 ms on
    3.11) nor the high-level client (~10 ms); their names still work, loaded
    when first used (PEP 562: Python 3.7+; before, at import time)."""
    result = run([sys.executable, "-c", _LAZY_CHECK])
    assert result.returncode == 0, result.stderr
    loaded, ok = result.stdout.decode("ascii").splitlines()
    assert ok == "ok"
    if sys.version_info >= (3, 7):
        assert loaded == "-"
