"""Packaging: a wheel builds and carries what users need (console script,
py.typed, the example scripts used by ``katcp-sync serve``/``demo``)."""

import pathlib
import subprocess
import sys
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
    static = ROOT / "katcp_sync" / "web_static"
    names = {p.name for p in static.iterdir() if p.is_file()}
    assert {"index.html", "web.css", "web.js"} <= names
    for name in names:
        assert wheel["katcp_sync/web_static/" + name] == (static / name).read_bytes()
