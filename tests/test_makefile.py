"""`make verify` and `make test` work as the first command on a fresh clone (issue 13 item 12).

Each target that runs project code depends on an install stamp, and the stamp depends on
pyproject.toml. Checked with ``make -n`` (print, do not run) on a copy of the Makefile in a temporary
folder, so nothing is installed: the install runs when the stamp is missing or older than
pyproject.toml, and not otherwise. CI (.ci/run) installs everything and runs README's test command.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the package install with its extras (helpers may add an extra: only the shape is checked)
INSTALL = re.compile(r'pip install -e "\.\[[a-z,]+\]"')


def _installs(out):
    return INSTALL.search(out) is not None

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def _make(cwd, *args):
    out = subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture
def clone(tmp_path):
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def _set_mtime(path, t):
    os.utime(path, (t, t))


@pytest.mark.parametrize("target", ["verify", "test", "theory", "report", "figure-spectrum"])
def test_first_run_installs_then_not_again_until_pyproject_changes(clone, target):
    stamp = clone / _make(clone, "-s", "print-install-stamp").strip()
    assert re.fullmatch(r"\.install-[0-9a-f]{12}\.stamp", stamp.name), stamp.name
    assert not stamp.exists()
    assert _installs(_make(clone, "-n", target)), "a fresh clone must install first"

    t = (clone / "pyproject.toml").stat().st_mtime
    stamp.touch()
    _set_mtime(stamp, t + 10)
    assert not _installs(_make(clone, "-n", target)), "installed and unchanged: no second install"

    _set_mtime(clone / "pyproject.toml", t + 20)
    assert _installs(_make(clone, "-n", target)), "pyproject.toml changed: install again"


def test_install_always_installs_and_writes_the_stamp(clone):
    stamp = _make(clone, "-s", "print-install-stamp").strip()
    (clone / stamp).touch()
    out = _make(clone, "-n", "install")
    assert _installs(out) and f"touch {stamp}" in out


def test_a_different_interpreter_gets_its_own_stamp(clone, tmp_path):
    """A new virtual environment has another sys.prefix, so it installs again."""
    mine = _make(clone, "-s", "print-install-stamp").strip()
    venv_like = tmp_path / "fake-python"
    venv_like.write_text('#!/bin/sh\nexec python3 -c "import hashlib; print(hashlib.sha1(b\'/elsewhere\')'
                         '.hexdigest()[:12])"\n')
    venv_like.chmod(0o755)
    other = _make(clone, "-s", "print-install-stamp", f"PYTHON={venv_like}").strip()
    assert other != mine and other.startswith(".install-")


def test_stamp_is_git_ignored():
    assert ".install-*.stamp" in (ROOT / ".gitignore").read_text().splitlines()


def test_readme_setup_is_the_two_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Set up and test", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [ln.split("#", 1)[0].strip() for ln in block.strip().splitlines()]
    assert commands == ["make verify", "make test"], commands
    ci = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "make install" in ci and "make test" in ci and "make verify" in ci
    assert ci.index("make install") < ci.index("make test")


def test_torch_index_is_configurable_and_ci_stays_on_cpu(clone):
    """Item 11: README says how to get the CPU-only and the CUDA build; CI uses neither GPU nor CUDA build."""
    url = "file:///some/cpu/index"
    out = _make(clone, "-n", "install", f"TORCH_INDEX_URL={url}")
    assert re.search(r'pip install "torch==[0-9.]+"\s*\\?\s*--index-url ' + re.escape(url), out), out
    assert "--index-url" not in _make(clone, "-n", "install"), "no index given: pip's own configuration"

    setup = (ROOT / "README.md").read_text().split("## Set up and test", 1)[1].split("\n## ", 1)[0]
    assert "--index-url https://download.pytorch.org/whl/cpu" in setup
    assert re.search(r"^pip install torch==[0-9.]+ +# CUDA", setup, flags=re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'export CUDA_VISIBLE_DEVICES=""' in ci and "torch.version.cuda is None" in ci
