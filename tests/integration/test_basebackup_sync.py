"""``mirrordb basebackup`` leaves a backup that is on disk when it returns (every file and
directory fsynced, as pg_basebackup does), unless ``-N``/``--no-sync``. Run in-process against
a running server, with the tree sync recorded."""

from __future__ import annotations

import os

import pytest

from mirrordb.cli import basebackup
from mirrordb.cli.main import build_parser


@pytest.mark.parametrize("extra, synced", [((), True), (("-N",), False),
                                           (("--no-sync",), False)])
def test_the_backup_is_synced_unless_told_not_to(module_server, tmp_path, monkeypatch,
                                                 extra, synced):
    target = str(tmp_path / "backup")
    trees: list[str] = []
    monkeypatch.setattr(basebackup, "fsync_tree", trees.append)
    args = build_parser().parse_args(["basebackup", "-h", "127.0.0.1", "-p",
                                      str(module_server.port), "-U", "postgres", "-D", target,
                                      "-X", "fetch", "-c", "fast", "-R", *extra])
    assert basebackup.run(args) == 0
    assert os.path.exists(os.path.join(target, "standby.signal"))   # written before the sync
    assert trees == ([target] if synced else [])
