"""Reach the libraries we compare against, without making them dependencies.

* aiokatcp (and its compiled ``katcp_codec``) is imported from the running
  Python when installed: :func:`import_optional`.
* katcp-python 0.9.3 only runs on old Pythons (tornado 4), so it lives in a
  cached virtual environment ``bench/.venv-kp39`` made with ``python3.9`` on
  first use. :func:`run_katcp_python` runs a snippet there and returns the
  JSON it prints.

Every failure becomes a :class:`Skipped` carrying the reason, so a bench can
print ``skipped: <reason>`` for that column instead of failing.
"""

import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from typing import Any, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
KP_VENV = os.path.join(HERE, ".venv-kp39")
KP_REQUIREMENT = "katcp==0.9.3"
_PYENV_39 = "/root/.pyenv/versions/3.9.18/bin/python"


class Skipped(Exception):
    """A comparison cannot run here; ``str(exc)`` says why."""


def import_optional(name: str) -> Any:
    """Import module ``name`` or raise :class:`Skipped`."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken install
        raise Skipped("%s not importable: %s" % (name, exc)) from None


def _find_python39() -> Optional[str]:
    for candidate in (shutil.which("python3.9"), _PYENV_39):
        if not candidate:
            continue
        try:
            subprocess.run([candidate, "-c", "import venv"], check=True,
                           capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            continue
        return candidate
    return None


def _venv_python() -> str:
    return os.path.join(KP_VENV, "bin", "python")


def _venv_ready() -> bool:
    python = _venv_python()
    if not os.path.exists(python):
        return False
    probe = subprocess.run([python, "-c", "import katcp, sys; sys.exit(katcp.__version__ != '0.9.3')"],
                           capture_output=True, timeout=120)
    return probe.returncode == 0


def katcp_python_env() -> str:
    """Return the path of a Python with katcp 0.9.3, creating the venv if needed.

    Raises:
        Skipped: no python3.9, or the venv or the install failed.
    """
    if _venv_ready():
        return _venv_python()
    python39 = _find_python39()
    if python39 is None:
        raise Skipped("python3.9 not found (katcp 0.9.3 needs it)")
    print("setting up %s (%s); this happens once" % (KP_VENV, KP_REQUIREMENT), file=sys.stderr)
    try:
        subprocess.run([python39, "-m", "venv", "--clear", KP_VENV], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([_venv_python(), "-m", "pip", "install", "-q", KP_REQUIREMENT],
                       check=True, capture_output=True, timeout=900)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-1:]
        raise Skipped("could not install %s: %s" % (KP_REQUIREMENT, " ".join(detail))) from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise Skipped("could not create %s: %s" % (KP_VENV, exc)) from None
    if not _venv_ready():
        raise Skipped("%s installed but katcp does not import" % KP_REQUIREMENT)
    return _venv_python()


def run_katcp_python(snippet: str, args: Optional[List[str]] = None, timeout: float = 600) -> Any:
    """Run ``snippet`` with katcp 0.9.3 and return the JSON it printed last.

    The snippet must ``print(json.dumps(...))`` as its last line of output;
    ``args`` become its ``sys.argv[1:]``.

    Raises:
        Skipped: the environment is unavailable or the snippet failed.
    """
    python = katcp_python_env()
    try:
        done = subprocess.run([python, "-c", textwrap.dedent(snippet)] + list(args or []),
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Skipped("katcp-python snippet timed out after %ss" % timeout) from None
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise Skipped("katcp-python snippet failed: %s" % " ".join(tail))
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        raise Skipped("katcp-python snippet printed nothing")
    return json.loads(lines[-1])
