"""Fuzz: the client's archive receiver unpacks the same files however the server splits its
CopyData chunks, and rejects garbage only with an operating error."""

from __future__ import annotations

import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from mirrordb.cli.basebackup import BackupStreamReceiver
from mirrordb.common.errors import MirrordbError
from mirrordb.replication.basebackup import (TAR_TRAILER, TAR_TYPE_DIRECTORY, tar_header,
                                             tar_padding)

FILES = {"PG_VERSION": b"15\n", "global/pg_control": bytes(range(256)) * 32, "empty": b""}


def _archive() -> bytes:
    parts = [tar_header("global/", typeflag=TAR_TYPE_DIRECTORY, mode=0o700)]
    for name, data in FILES.items():
        parts += [tar_header(name, size=len(data)), data, tar_padding(len(data))]
    return b"".join(parts) + TAR_TRAILER


ARCHIVE = _archive()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=40))
def test_any_chunking_gives_the_same_files(cuts):
    with tempfile.TemporaryDirectory() as target:
        receiver = BackupStreamReceiver(target)
        receiver.receive(b"nbase.tar\0\0")
        offset = 0
        for cut in cuts + [len(ARCHIVE)]:
            receiver.receive(b"d" + ARCHIVE[offset:offset + cut])
            offset += cut
            if offset >= len(ARCHIVE):
                break
        receiver.finish()
        for name, data in FILES.items():
            with open(os.path.join(target, name), "rb") as handle:
                assert handle.read() == data


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=600), max_size=6))
def test_garbage_raises_only_operating_errors(messages):
    with tempfile.TemporaryDirectory() as target:
        receiver = BackupStreamReceiver(target)
        try:
            for message in messages:
                receiver.receive(message)
            receiver.finish()
        except (MirrordbError, OSError):  # OSError: a name the file system refuses
            pass
