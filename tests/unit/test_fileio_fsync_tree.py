"""``fsync_tree``: every file and every directory of a tree is fsynced, directories after the
files in them, the root last; symbolic links are not followed. ``mirrordb initdb`` ends with it
unless ``-N``/``--no-sync``."""

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
