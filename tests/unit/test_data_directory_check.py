"""The start-up check of a data directory: a directory lacking one of this mirrordb's system
catalogs (made by an older mirrordb, before that catalog existed), or whose catalog rows have
fewer columns than this mirrordb's, is refused with the catalog named and a hint, before anything
reads it."""

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


def test_a_catalog_with_fewer_columns_is_refused(cluster: str) -> None:
    """A catalog whose rows have fewer columns than this mirrordb's (a column added since the
    cluster was made) is refused at start, not when its rows fail to decode."""
    from mirrordb.storage import page as pagelib
    from mirrordb.storage import tuple as tuplelib
    catalog = boot.CATALOGS_BY_NAME["pg_attribute"]
    path = os.path.join(cluster, "base", str(catalog.rnode.db), str(catalog.rnode.rel))
    with open(path, "r+b") as handle:
        page = bytearray(handle.read(pagelib.BLCKSZ))
        offnum = next(offnum for offnum in range(1, pagelib.max_offset(page) + 1)
                      if pagelib.item_is_normal(page, offnum))
        lp_off = pagelib.get_item_id(page, offnum)[0]
        at = lp_off + tuplelib.INFOMASK2_OFFSET
        infomask2 = int.from_bytes(page[at:at + 2], "little")
        page[at:at + 2] = (infomask2 - 1).to_bytes(2, "little")
        handle.seek(0)
        handle.write(page)
    with pytest.raises(MirrordbError) as caught:
        check_data_directory(cluster)
    assert caught.value.sqlstate == "55000"
    expected = f"has rows of {len(catalog.columns) - 1} columns where this mirrordb has"
    assert '"pg_attribute"' in (caught.value.detail or "") and expected in (caught.value.detail or "")
