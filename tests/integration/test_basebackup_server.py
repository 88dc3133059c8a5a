"""The server side of BASE_BACKUP, driven with a fake walsender over a real engine: the message
sequence, the archive (unpacked by the client's own receiver), backup_label, the manifest and the
backup-end WAL; pg_verifybackup checks the result when PostgreSQL 15 is installed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field

import pytest

from mirrordb.cli.basebackup import BackupStreamReceiver, TarExtractor
from mirrordb.common.errors import MirrordbError
from mirrordb.common.lsn import parse_lsn
from mirrordb.engine import Engine
from mirrordb.protocol.messages import (CommandComplete, CopyData, CopyDone, CopyOutResponse,
                                        DataRow, NoticeResponse, RowDescription)
from mirrordb.replication.basebackup import (parse_backup_label, parse_options, run_base_backup,
                                             tar_header)
from mirrordb.replication.basebackup_progress import BaseBackupPhase, BaseBackupProgress

PG_BIN = "/usr/lib/postgresql/15/bin"


@dataclass
class FakeConnection:
    messages: list[object] = field(default_factory=list)

    def send(self, *messages: object) -> None:
        self.messages.extend(messages)


@dataclass
class FakeServer:
    engine: Engine


class FakeWalSender:
    def __init__(self, engine: Engine) -> None:
        self.server = FakeServer(engine)
        self.connection = FakeConnection()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1


@pytest.fixture
def engine(cluster):
    engine = Engine.open(cluster)
    with engine.begin() as txn:
        txn.create_table("t", [("a", 23)])
        for value in range(50):
            txn.insert("t", (value,))
    yield engine
    engine.close()


def _backup(engine: Engine, target: str, options: dict[str, object]) -> list[object]:
    walsender = FakeWalSender(engine)
    run_base_backup(walsender, options)
    os.makedirs(target)
    receiver = BackupStreamReceiver(target)
    for message in walsender.connection.messages:
        if isinstance(message, CopyData):
            receiver.receive(message.data)
    receiver.finish()
    return walsender.connection.messages


def test_message_sequence_and_archive(engine, tmp_path):
    target = str(tmp_path / "backup")
    messages = _backup(engine, target, {"label": "nightly", "progress": None, "checkpoint": "fast",
                                        "wal": None, "wait": "0", "manifest": "yes"})
    kinds = [type(message).__name__ for message in messages]
    assert kinds[:7] == ["RowDescription", "DataRow", "CommandComplete", "RowDescription",
                         "DataRow", "CommandComplete", "CopyOutResponse"]
    assert kinds[-5:] == ["CopyDone", "RowDescription", "DataRow", "CommandComplete",
                          "CommandComplete"]
    assert messages[-1] == CommandComplete("BASE_BACKUP")
    assert not any(isinstance(message, NoticeResponse) for message in messages)
    start_lsn = parse_lsn(messages[1].values[0].decode())
    end_lsn = parse_lsn(messages[-3].values[0].decode())
    assert start_lsn < end_lsn <= engine.wal.flush_lsn
    assert messages[4].values[2] is not None  # PROGRESS: the size column is filled
    copy = [message.data for message in messages if isinstance(message, CopyData)]
    assert copy[0] == b"nbase.tar\0\0"
    assert copy.index(b"m") > max(i for i, data in enumerate(copy) if data[:1] == b"p")
    with open(os.path.join(target, "backup_label")) as handle:
        label = parse_backup_label(handle.read())
    assert label["LABEL"] == "nightly" and label["BACKUP FROM"] == "primary"
    assert parse_lsn(label["START WAL LOCATION"].split()[0]) == start_lsn
    assert os.path.getsize(os.path.join(target, "global", "pg_control")) == 8192
    assert not os.path.exists(os.path.join(target, "postmaster.pid"))
    assert os.path.isdir(os.path.join(target, "pg_wal", "archive_status"))
    assert any(name.endswith(".done")
               for name in os.listdir(os.path.join(target, "pg_wal", "archive_status")))
    _check_manifest(target, start_lsn, end_lsn)
    if os.path.exists(os.path.join(PG_BIN, "pg_verifybackup")):
        result = subprocess.run([os.path.join(PG_BIN, "pg_verifybackup"), target],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr


def _check_manifest(target: str, start_lsn: int, end_lsn: int) -> None:
    with open(os.path.join(target, "backup_manifest"), "rb") as handle:
        raw = handle.read()
    cut = raw.index(b'"Manifest-Checksum"')
    manifest = json.loads(raw)
    assert manifest["Manifest-Checksum"] == hashlib.sha256(raw[:cut]).hexdigest()
    paths = {entry["Path"] for entry in manifest["Files"]}
    assert {"backup_label", "global/pg_control", "PG_VERSION"} <= paths
    assert not any(path.startswith("pg_wal/") for path in paths)
    assert manifest["WAL-Ranges"][0]["Start-LSN"] == f"{start_lsn >> 32:X}/{start_lsn & 0xFFFFFFFF:X}"
    assert parse_lsn(manifest["WAL-Ranges"][0]["End-LSN"]) == end_lsn


def test_wait_gives_the_archiving_notice(engine, tmp_path):
    messages = _backup(engine, str(tmp_path / "b"), {})
    notices = [message for message in messages if isinstance(message, NoticeResponse)]
    assert notices and "WAL archiving is not enabled" in notices[0].message
    assert messages.index(notices[0]) == messages.index(CopyDone()) - 1
    assert not os.path.exists(os.path.join(str(tmp_path / "b"), "backup_manifest"))


def test_option_errors():
    with pytest.raises(MirrordbError, match='unrecognized base backup option: "foo"'):
        parse_options({"foo": None})
    with pytest.raises(MirrordbError, match=r'outside the valid range for parameter "MAX_RATE"'):
        parse_options({"max_rate": "10"})
    assert parse_options({"checkpoint": "fast", "wal": None}).include_wal


def test_tar_header_layout_and_unsafe_names(tmp_path):
    header = tar_header("global/pg_control", size=8192, mode=0o600, mtime_s=1)
    assert len(header) == 512 and header[100:108] == b"0000600 " and header[257:263] == b"ustar\0"
    checksum = int(header[148:155], 8)
    assert checksum == sum(header[:148]) + 8 * 32 + sum(header[156:])
    extractor = TarExtractor(str(tmp_path))
    with pytest.raises(MirrordbError, match="unsafe path name"):
        extractor.feed(tar_header("../escape", size=0))


class RecordingProgress(BaseBackupProgress):
    """A progress that remembers each phase it entered."""

    def __init__(self) -> None:
        super().__init__()
        self.phases: list[str] = []

    def _enter(self, phase: BaseBackupPhase) -> None:
        super()._enter(phase)
        self.phases.append(phase.name)

    def begin_streaming(self, total_bytes: int | None, tablespaces: int) -> None:
        super().begin_streaming(total_bytes, tablespaces)
        self.phases.append("STREAM_BACKUP")

    def wait_wal_archive(self) -> None:
        super().wait_wal_archive()
        self.phases.append("WAIT_WAL_ARCHIVE")


@pytest.mark.parametrize("options, phases", [
    ({"progress": None, "wal": None},
     ["WAIT_CHECKPOINT", "ESTIMATE_BACKUP_SIZE", "STREAM_BACKUP", "WAIT_WAL_ARCHIVE",
      "TRANSFER_WAL"]),
    ({}, ["WAIT_CHECKPOINT", "STREAM_BACKUP", "WAIT_WAL_ARCHIVE"]),
], ids=["progress-wal", "plain"])
def test_progress_phases_and_counts(engine, options, phases):
    walsender = FakeWalSender(engine)
    progress = RecordingProgress()
    run_base_backup(walsender, options, progress)
    assert progress.phases == phases
    sent = sum(len(message.data) - 1 for message in walsender.connection.messages
               if isinstance(message, CopyData) and message.data[:1] == b"d")
    phase, total, streamed, tablespaces, tablespaces_done = progress.values()
    assert streamed == sent
    assert (tablespaces, tablespaces_done) == (1, 1)
    if "progress" in options:
        assert total == streamed     # the estimate is raised to what was sent
    else:
        assert total is None
