"""common/fileio's durability helpers and their users: ``fsync_tree`` fsyncs every file and
every directory of a tree, directories after the files in them, the root last, without following
symbolic links (``mirrordb initdb`` ends with it unless ``-N``/``--no-sync``); ``pwrite_all``
continues a write the kernel cut short (the commit log's pages land whole) and never spins."""

from __future__ import annotations

import os

import pytest

from mirrordb.common import fileio


def test_every_file_and_directory_is_fsynced_once_directories_last(tmp_path, monkeypatch):
    root = tmp_path / "backup"
    (root / "base" / "5").mkdir(parents=True)
    (root / "pg_wal" / "archive_status").mkdir(parents=True)
    files = [root / "PG_VERSION", root / "base" / "5" / "16384", root / "pg_wal" / "seg"]
    for path in files:
        path.write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.write_bytes(b"y")
    (root / "link").symlink_to(outside)
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    fileio.fsync_tree(str(root))
    directories = [root, root / "base", root / "base" / "5", root / "pg_wal",
                   root / "pg_wal" / "archive_status"]
    assert sorted(synced) == sorted(str(path) for path in files + directories)
    assert synced[-1] == str(root)
    first_directory = min(synced.index(str(path)) for path in directories)
    assert all(synced.index(str(path)) < first_directory for path in files)


@pytest.mark.parametrize("arguments, synced", [((), True), (("-N",), False),
                                               (("--no-sync",), False)])
def test_initdb_leaves_the_cluster_synced_unless_told_not_to(tmp_path, monkeypatch, arguments,
                                                             synced):
    from mirrordb.cli import initdb as initdb_module
    from mirrordb.cli.main import main

    trees: list[str] = []
    monkeypatch.setattr(initdb_module, "fsync_tree", trees.append)
    target = str(tmp_path / "data")
    assert main(["initdb", "-D", target, "--wal-segsize", "1", *arguments]) == 0
    assert trees == ([target] if synced else [])
    assert os.path.exists(os.path.join(target, "global", "pg_control"))


def test_a_write_cut_short_is_continued_and_a_commit_log_page_lands_whole(tmp_path,
                                                                           monkeypatch):
    from mirrordb.access.clog import CLOG_PAGE_SIZE, XACT_COMMITTED, CommitLog

    real_pwrite = os.pwrite
    calls: list[int] = []

    def short_pwrite(fd: int, data: object, offset: int) -> int:   # at most 1000 bytes a call
        calls.append(offset)
        return real_pwrite(fd, memoryview(data)[:1000], offset)    # type: ignore[arg-type]

    clog = CommitLog(str(tmp_path))
    clog.set_status([3, 4, 5, 9000], XACT_COMMITTED)
    expected = bytes(clog._page(0))
    monkeypatch.setattr(os, "pwrite", short_pwrite)
    clog.flush()
    monkeypatch.undo()
    assert len(calls) == -(-CLOG_PAGE_SIZE // 1000)
    with open(tmp_path / "0000", "rb") as handle:
        assert handle.read(CLOG_PAGE_SIZE) == expected
    assert CommitLog(str(tmp_path)).status(9000) == XACT_COMMITTED


def test_pwrite_all_fails_rather_than_spinning_on_a_write_of_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: 0)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        with pytest.raises(OSError, match="wrote nothing"):
            fileio.pwrite_all(fd, b"abc", 0)
    finally:
        os.close(fd)
