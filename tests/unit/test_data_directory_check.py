"""The start-up check of a data directory: a directory lacking one of this mirrordb's system
catalogs (made by an older mirrordb, before that catalog existed) is refused with the catalog
named and a hint, before anything reads it."""

from __future__ import annotations

import os

import pytest

from mirrordb.catalog import bootstrap as boot
from mirrordb.common.errors import MirrordbError
from mirrordb.server.postmaster import check_data_directory


def test_a_complete_cluster_passes(cluster: str) -> None:
    check_data_directory(cluster)


def test_a_missing_catalog_file_is_refused_with_its_name(cluster: str) -> None:
    catalog = boot.CATALOGS_BY_NAME["pg_constraint"]
    os.unlink(os.path.join(cluster, "base", str(catalog.rnode.db), str(catalog.rnode.rel)))
    with pytest.raises(MirrordbError) as caught:
        check_data_directory(cluster)
    assert caught.value.sqlstate == "55000"
    assert caught.value.message == "database files are incompatible with server"
    assert '"pg_constraint"' in (caught.value.detail or "")
    assert "initdb" in (caught.value.hint or "")
