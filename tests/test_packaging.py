"""Packaging: a wheel builds and carries what users need (console script,
py.typed, the example scripts used by ``katcp-sync serve``/``demo``); the
package's modules import each other without cycles."""

from __future__ import absolute_import, division, print_function


import os
import pathlib
import signal
import subprocess
import sys
import tarfile
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=240, cwd=str(build))
    if proc.returncode != 0:
        pytest.fail("pip wheel failed:\n%s\n%s" % (proc.stdout, proc.stderr))
    wheels = list(out.glob("katcp_sync-*.whl"))
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
    shipped = {pathlib.PurePosixPath(k).name for k in wheel
               if "/data/share/katcp_sync/examples/" in k}
    assert {p.name for p in (ROOT / "examples").glob("*.py")} <= shipped


def test_wheel_requires_only_wrapt_at_run_time(wheel):
    metadata = next(v for k, v in wheel.items() if k.endswith(".dist-info/METADATA"))
    requires = [line for line in metadata.decode().splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert [r.split()[1] for r in requires] == ["wrapt>=1.10"]


def test_wheel_ships_the_web_page(wheel):
    """``katcp-sync web`` serves these files from the installed package."""
    static = ROOT / "katcp_sync" / "web" / "static"
    names = {p.name for p in static.iterdir() if p.is_file()}
    assert {"index.html", "web.css", "web.js"} <= names
    for name in names:
        assert wheel["katcp_sync/web/static/" + name] == (static / name).read_bytes()


# -- issue 15: licence, metadata, sdist contents, no bytecode in share/ ------------------

def test_wheel_has_license_and_author_metadata(wheel):
    licences = [k for k in wheel if k.endswith(".dist-info/LICENSE")
                or "/licenses/LICENSE" in k]
    assert licences, sorted(wheel)
    assert b"BSD 3-Clause License" in wheel[licences[0]]
    metadata = next(v for k, v in wheel.items() if k.endswith(".dist-info/METADATA")).decode()
    assert "\nAuthor: katcp_sync developers\n" in metadata
    assert "\nHome-page: https://pypi.org/project/katcp-sync/\n" in metadata
    assert "\nLicense: BSD-3-Clause\n" in metadata


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    out = tmp_path_factory.mktemp("sdist")
    proc = subprocess.run(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(out),
         "sdist", "-d", str(out)],
        capture_output=True, text=True, timeout=240, cwd=str(ROOT))
    if proc.returncode != 0:
        pytest.fail("sdist failed:\n%s\n%s" % (proc.stdout, proc.stderr))
    archives = list(out.glob("katcp-sync-*.tar.gz")) + list(out.glob("katcp_sync-*.tar.gz"))
    assert len(archives) == 1, archives
    with tarfile.open(str(archives[0])) as archive:
        return {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}


def test_sdist_carries_license_tests_docs_and_examples(sdist):
    assert {"LICENSE", "README.rst", "setup.cfg", "MANIFEST.in"} <= sdist
    for folder in ("tests", "docs", "examples"):
        expected = {str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*")
                    if p.is_file() and p.suffix in (".py", ".rst")
                    and "__pycache__" not in p.parts and "_build" not in p.parts}
        assert expected and expected <= sdist, sorted(expected - sdist)
    assert not any("__pycache__" in name for name in sdist)


def test_wheel_install_runs_demo_and_serve_without_bytecode_in_share(wheel, tmp_path):
    """From an installed wheel (no source checkout), `demo` and `serve` load
    the example from share/katcp_sync/examples and write no __pycache__ there
    (files that uninstalling would leave behind). Installed with --no-compile,
    so that no pip-made bytecode hides one the tool would write."""
    wheel_path = tmp_path / "katcp_sync-0-py3-none-any.whl"
    with zipfile.ZipFile(str(wheel_path), "w") as archive:
        for name, data in wheel.items():
            archive.writestr(name, data)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install",
                              "--no-deps", "--no-index", "--ignore-installed", "--no-compile", "-q",
                              str(wheel_path)],
                             capture_output=True, text=True, timeout=240)
    if install.returncode != 0 and "no such option: --python" in install.stderr:
        pytest.skip("pip too old for --python")
    assert install.returncode == 0, install.stderr
    share = venv / "share" / "katcp_sync" / "examples"
    assert (share / "tutorial_server.py").is_file()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    # Run from an empty folder: the installed package, not this checkout.
    where = subprocess.run([python, "-c", "import katcp_sync.cli as c; print(c.__file__)"],
                           capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
                           env=env)
    assert str(venv) in where.stdout, where
    demo = subprocess.run([python, "-m", "katcp_sync", "demo"], capture_output=True,
                          timeout=60, cwd=str(tmp_path), env=env)
    assert demo.returncode == 0, demo.stderr.decode()
    serve = subprocess.Popen([python, "-m", "katcp_sync", "serve", "--port", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=str(tmp_path), env=env)
    try:
        assert b"serving the tutorial's example server on 127.0.0.1:" in serve.stdout.readline()
    finally:
        serve.send_signal(signal.SIGINT)
        serve.communicate(timeout=20)
    assert not list(share.parent.rglob("__pycache__"))
