"""ssm_tdi._io, the project's one atomic writer (used by the CLI, verify, the figures and the report)."""

import os
import stat

import pytest

from ssm_tdi import _io


def test_a_new_file_and_a_replacement(tmp_path):
    p = tmp_path / "sub" / "a.json"
    assert _io.atomic_write_bytes(p, b"one") == p and p.read_bytes() == b"one"
    _io.atomic_write_bytes(p, memoryview(b"two!"))
    assert p.read_bytes() == b"two!" and os.listdir(p.parent) == ["a.json"]


def test_a_target_that_turns_into_a_directory_before_commit_changes_nothing(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"old a")
    out = _io.OutputSet()
    out.stage(a, b"new a")
    out.stage(b, b"new b")
    b.mkdir()  # someone else's directory appears where b was to go
    with pytest.raises(_io.OutputPathError, match="directory"):
        out.commit()
    assert a.read_bytes() == b"old a" and b.is_dir()
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_a_rollback_without_hard_links_restores_from_a_copy(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"old a")
    b.write_bytes(b"old b")

    def no_links(*_):
        raise OSError(1, "Operation not permitted")

    real, calls = os.replace, []

    def second_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(5, "Input/output error", str(dst))
        return real(src, dst)

    monkeypatch.setattr(_io.os, "link", no_links)
    monkeypatch.setattr(_io.os, "replace", second_fails)
    with _io.OutputSet() as out:
        out.stage(a, b"new a")
        out.stage(b, b"new b")
        with pytest.raises(OSError, match="Input/output"):
            out.commit()
    assert a.read_bytes() == b"old a" and b.read_bytes() == b"old b"
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_a_short_write_on_disk_is_an_error(tmp_path, monkeypatch):
    """The size on disk is compared with the bytes handed in (a file system that drops data silently)."""
    real = os.fstat

    class Short:
        def __init__(self, st):
            self.st_size = st.st_size - 1

    monkeypatch.setattr(_io.os, "fstat", lambda fd: Short(real(fd)))
    with pytest.raises(OSError, match="only 4 of 5 bytes"):
        _io.atomic_write_bytes(tmp_path / "a", b"12345")
    assert os.listdir(tmp_path) == []


def test_temp_names_fit_any_file_name(tmp_path):
    name = "x" * 255
    _io.atomic_write_bytes(tmp_path / name, b"ok")
    assert len(_io._temp_name(name).encode()) < 100
    assert stat.S_ISREG(os.stat(tmp_path / name).st_mode)


@pytest.mark.parametrize("bad", ["", "dir/", "/dev/null"])
def test_paths_that_are_refused(tmp_path, bad):
    with pytest.raises(_io.OutputPathError):
        _io.check_output_path(bad)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(_io.OutputPathError, match="link to nothing"):
        _io.check_output_path(tmp_path / "dangling")
    (tmp_path / "file").write_text("x")
    with pytest.raises(_io.OutputPathError, match="not a directory"):
        _io.check_output_path(tmp_path / "file" / "out.npz")
