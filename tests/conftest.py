"""Shared fixtures: fresh clusters made by the real initdb code path, in temporary directories."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from mirrordb.cli.initdb import initdb

PG_BIN = "/usr/lib/postgresql/15/bin"
SEGMENT_SIZE_MB = 1


def pg_tool(name: str) -> str:
    path = os.path.join(PG_BIN, name)
    if not os.path.exists(path):
        pytest.skip(f"PostgreSQL 15 tool {name} is not installed ({path})")
    return path


@pytest.fixture(scope="session")
def template_cluster(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One initdb per test session; tests get copies (initdb costs a second)."""
    path = str(tmp_path_factory.mktemp("template") / "data")
    initdb(path, segment_size_mb=SEGMENT_SIZE_MB)
    return path


@pytest.fixture
def cluster(template_cluster: str, tmp_path: object) -> Iterator[str]:
    path = os.path.join(str(tmp_path), "data")
    shutil.copytree(template_cluster, path)
    yield path


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory, template_cluster: str) -> Iterator[object]:
    """One running mirrordb server on a fresh copy of the template, shared by a test module."""
    from tests.server_process import start_server
    datadir = str(tmp_path_factory.mktemp("server") / "data")
    shutil.copytree(template_cluster, datadir)
    running = start_server(datadir)
    yield running
    running.stop()
