"""The aclitem[] text codec and ACL arithmetic of sql/roles.py, on texts PostgreSQL 15 printed."""

from __future__ import annotations

import pytest

from mirrordb.common.errors import MirrordbError
from mirrordb.sql import roles
from mirrordb.sql.roles import (ACL_DELETE, ACL_INSERT, ACL_SELECT, ACL_UPDATE, AclItem,
                                acl_mask, acl_update, catalog_acl, default_acl, format_acl,
                                parse_acl)

# relacl values printed by PostgreSQL 15 after GRANT/REVOKE sequences (see test_roles_vs_postgres
# for the statements that produce them on both systems).
POSTGRES_TEXTS = [
    "{}",
    "{postgres=arwdDxt/postgres}",
    "{postgres=arwdDxt/postgres,bob=r/postgres}",
    "{postgres=arwdDxt/postgres,bob=arwdDxt/postgres,=ar/postgres}",
    "{bob=r*/postgres}",
    '{bob=r*/postgres,"\\"we ird\\"=w/postgres"}',
    "{postgres=rwU/postgres,=U/postgres}",
]


@pytest.mark.parametrize("text", POSTGRES_TEXTS)
def test_postgres_texts_round_trip(text: str) -> None:
    assert format_acl(parse_acl(text)) == text


def test_parse_fields() -> None:
    items = parse_acl('{postgres=arwdDxt/postgres,bob=r*w/postgres,=d/postgres,'
                      '"\\"we ird\\"=w/\\"q\\"\\"x\\""}')
    assert items[0] == AclItem("postgres", "postgres", roles.TABLE_RIGHTS)
    assert items[1] == AclItem("bob", "postgres", ACL_SELECT | ACL_UPDATE, ACL_SELECT)
    assert items[2] == AclItem("", "postgres", ACL_DELETE)       # PUBLIC
    assert items[3] == AclItem("we ird", 'q"x', ACL_UPDATE)


def test_names_are_quoted_as_postgres_quotes_them() -> None:
    text = format_acl([AclItem("Bob_1", "postgres", ACL_SELECT),
                       AclItem("a,b", "postgres", ACL_SELECT),
                       AclItem('q"x', "postgres", ACL_SELECT),
                       AclItem("ünï", "postgres", ACL_SELECT)])
    assert text == ('{Bob_1=r/postgres,"\\"a,b\\"=r/postgres","\\"q\\"\\"x\\"=r/postgres",'
                    '"\\"ünï\\"=r/postgres"}')
    assert parse_acl(text)[1].grantee == "a,b"


@pytest.mark.parametrize("text", ["", "{", "postgres=r/postgres", "{bob}", "{bob=r}",
                                  "{bob=q/postgres}", "{bob=r/}", "{a=r/b,}", '{"bob=r/x}',
                                  '{"\\"bob=r/x"}', "{bob=r/x}y"])
def test_malformed_texts_are_rejected(text: str) -> None:
    with pytest.raises(MirrordbError):
        parse_acl(text)


def test_default_and_catalog_acls() -> None:
    assert format_acl(default_acl("alice", "r")) == "{alice=arwdDxt/alice}"
    assert format_acl(default_acl("alice", "S")) == "{alice=rwU/alice}"
    assert catalog_acl("postgres", "pg_class") == "{postgres=arwdDxt/postgres,=r/postgres}"
    assert catalog_acl("postgres", "pg_authid") == "{postgres=arwdDxt/postgres}"


def test_acl_update_grant_adds_in_place_or_appends() -> None:
    acl = default_acl("postgres", "r")
    acl = acl_update(acl, "bob", "postgres", ACL_SELECT, is_grant=True)
    acl = acl_update(acl, "", "postgres", ACL_INSERT | ACL_SELECT, is_grant=True)
    acl = acl_update(acl, "bob", "postgres", ACL_INSERT, is_grant=True)
    assert format_acl(acl) == "{postgres=arwdDxt/postgres,bob=ar/postgres,=ar/postgres}"


def test_acl_update_revoke_removes_rights_and_empty_items() -> None:
    acl = parse_acl("{postgres=arwdDxt/postgres,bob=ar*/postgres,=r/postgres}")
    acl = acl_update(acl, "bob", "postgres", ACL_SELECT, is_grant=False, grant_option=True)
    assert format_acl(acl) == "{postgres=arwdDxt/postgres,bob=ar/postgres,=r/postgres}"
    acl = acl_update(acl, "bob", "postgres", ACL_INSERT | ACL_SELECT, is_grant=False)
    acl = acl_update(acl, "", "postgres", roles.TABLE_RIGHTS, is_grant=False)
    acl = acl_update(acl, "carol", "postgres", ACL_SELECT, is_grant=False)   # absent: no-op
    assert format_acl(acl) == "{postgres=arwdDxt/postgres}"
    assert format_acl(acl_update(acl, "postgres", "postgres", roles.TABLE_RIGHTS,
                                 is_grant=False)) == "{}"


def test_acl_mask_counts_own_items_and_public() -> None:
    acl = parse_acl("{postgres=arwdDxt/postgres,bob=w/postgres,=r/postgres}")
    assert acl_mask(acl, "bob") == (ACL_SELECT | ACL_UPDATE, 0)
    assert acl_mask(acl, "carol") == (ACL_SELECT, 0)
    assert acl_mask(acl, None) == (ACL_SELECT, 0)
    assert acl_mask(parse_acl("{}"), "postgres") == (0, 0)
