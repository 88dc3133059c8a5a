"""pg_hba.conf: PostgreSQL 15's tokenizer, every parse error with its line, and check_hba's
matching rules. (tests/compat/test_auth_pg.py compares the same parser with the real server.)"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from mirrordb.auth import hba
from mirrordb.auth.hba import (
    HbaAddress,
    HbaRule,
    HbaToken,
    IpCompareMethod,
    host_text,
    load_hba,
    match_hba,
    matched_line_detail,
    no_match_message,
    parse_hba,
    reject_message,
)
from mirrordb.common.errors import HbaError, InvariantViolation

FILE = "/data/pg_hba.conf"
SAMPLE = "/usr/share/postgresql/15/pg_hba.conf.sample"


def one_rule(line: str) -> HbaRule:
    rules = parse_hba(line, FILE)
    assert len(rules) == 1
    return rules[0]


def texts(tokens: tuple[HbaToken, ...]) -> list[tuple[str, bool]]:
    return [(token.text, token.quoted) for token in tokens]


def error_of(text: str) -> HbaError:
    with pytest.raises(HbaError) as caught:
        parse_hba(text, FILE)
    return caught.value


# --- tokenizer ---------------------------------------------------------------------------------

@pytest.mark.parametrize("line, databases, users", [
    ("local all all trust", [("all", False)], [("all", False)]),
    ('local "all" "all" trust', [("all", True)], [("all", True)]),
    ('local a"ll" all trust', [("all", False)], [("all", False)]),  # quoted only if it starts so
    ('local "a""b" "c"d trust', [('a"b', True)], [("cd", True)]),
    ('local ""a all trust', [("a", True)], [("all", False)]),
    ('local "" "" trust', [("", True)], [("", True)]),
    ('local "a#b" all trust', [("a#b", True)], [("all", False)]),
    ("local a,b,c all trust", [("a", False), ("b", False), ("c", False)], [("all", False)]),
    ("local a,,b all trust", [("a", False), ("b", False)], [("all", False)]),
    ("local ,a all trust", [("a", False)], [("all", False)]),
    ("local a, b all trust", [("a", False), ("b", False)], [("all", False)]),
    ('local a,"b c" d,+e trust', [("a", False), ("b c", True)], [("d", False), ("+e", False)]),
    ('local "a,b" all trust', [("a,b", True)], [("all", False)]),
    ("\tlocal\tall\tall\ttrust\r", [("all", False)], [("all", False)]),
    ("local @ all trust", [("@", False)], [("all", False)]),
    ('local "@x" all trust', [("@x", True)], [("all", False)]),
    ("local replication,sameuser samerole trust",
     [("replication", False), ("sameuser", False)], [("samerole", False)]),
])
def test_tokens(line: str, databases: list[tuple[str, bool]],
                users: list[tuple[str, bool]]) -> None:
    rule = one_rule(line)
    assert texts(rule.databases) == databases
    assert texts(rule.users) == users
    assert rule.raw_line == line.rstrip("\r")


def test_comment_starts_inside_a_token() -> None:
    assert one_rule("local all all trust#md5").method == "trust"
    assert error_of("local all all tru#st").message == 'invalid authentication method "tru"'
    assert error_of("local a#b all trust").message == "end-of-line before role specification"


def test_comments_blank_lines_and_crlf() -> None:
    text = ("# a comment\n\n   \t\nlocal all all trust # trailing\r\n#local x x md5\r\n"
            "host all all all md5")
    rules = parse_hba(text, FILE)
    assert [(rule.line_number, rule.method) for rule in rules] == [(4, "trust"), (6, "md5")]
    assert rules[0].raw_line == "local all all trust # trailing"


def test_backslash_continuation_keeps_first_line_number() -> None:
    text = "local all all \\\n  trust\nhost all \\\nall \\\n1.2.3.4/32 md5\nlocal a a reject\n"
    rules = parse_hba(text, FILE)
    assert [rule.line_number for rule in rules] == [1, 3, 6]
    assert rules[0].raw_line == "local all all   trust"
    assert rules[1].raw_line == "host all all 1.2.3.4/32 md5"


def test_continuation_needs_the_backslash_beyond_the_previous_cut() -> None:
    # "x \\" + newline continues once; the line after an empty continuation is not joined again.
    rules = parse_hba("local all \\\n\\\nall trust\n", FILE)
    assert rules[0].raw_line == "local all all trust"
    assert parse_hba("local all all trust \\", FILE)[0].method == "trust"


def test_nul_ends_a_line() -> None:
    assert one_rule("local all all trust\0garbage md5").raw_line == "local all all trust"


def test_longest_token_and_one_more() -> None:
    longest = "a" * hba.MAX_TOKEN_LENGTH
    assert one_rule(f"local {longest} all trust").databases[0].text == longest
    error = error_of(f"local all all trust\nlocal {longest}a all trust")
    assert error.message.startswith('authentication file token too long, skipping: "aaa')
    assert error.line_number == 2
    # The limit is checked before a terminating comma or a quote, as PostgreSQL checks it.
    assert error_of(f"local {longest},b all trust").line_number == 1
    assert error_of(f'local "{longest}" all trust').line_number == 1


# --- rules -------------------------------------------------------------------------------------

def test_host_rule_fields() -> None:
    rule = one_rule('host "all",x,"y z" +g,"+h" 010.0.0.1/8 scram-sha-256 # comment')
    assert rule.conn_type == "host"
    assert texts(rule.databases) == [("all", True), ("x", False), ("y z", True)]
    assert texts(rule.users) == [("+g", False), ("+h", True)]
    assert rule.address == HbaAddress(IpCompareMethod.MASK, ipaddress.ip_address("8.0.0.1"),
                                      ipaddress.ip_address("255.0.0.0"))
    assert rule.method == "scram-sha-256"
    assert rule.file_name == FILE and rule.line_number == 1


@pytest.mark.parametrize("field, address, mask", [
    ("1.2.3.4/32", "1.2.3.4", "255.255.255.255"),
    ("1.2.3.4/0", "1.2.3.4", "0.0.0.0"),
    ("10.0.0.0/+8", "10.0.0.0", "255.0.0.0"),
    ('"10.0.0.0/ 8"', "10.0.0.0", "255.0.0.0"),  # strtol skips leading white space
    ("127.1/8", "127.0.0.1", "255.0.0.0"),  # getaddrinfo's inet_aton forms
    ("::1/128", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("fe80::/10", "fe80::", "ffc0::"),
    ("1.2.3.4 255.0.255.0", "1.2.3.4", "255.0.255.0"),  # need not be contiguous
    ("::1 ffff::", "::1", "ffff::"),
])
def test_address_forms(field: str, address: str, mask: str) -> None:
    rule = one_rule(f"host all all {field} trust")
    assert rule.address == HbaAddress(IpCompareMethod.MASK, ipaddress.ip_address(address),
                                      ipaddress.ip_address(mask))


@pytest.mark.parametrize("keyword, method", [
    ("all", IpCompareMethod.ALL), ("samehost", IpCompareMethod.SAMEHOST),
    ("samenet", IpCompareMethod.SAMENET)])
def test_address_keywords(keyword: str, method: IpCompareMethod) -> None:
    assert one_rule(f"hostssl all all {keyword} md5").address == HbaAddress(method)


@pytest.mark.parametrize("conn_type", hba.CONNECTION_TYPES)
def test_connection_types(conn_type: str) -> None:
    address = "" if conn_type == "local" else " all"
    assert one_rule(f"{conn_type} all all{address} trust").conn_type == conn_type


@pytest.mark.parametrize("method", hba.SUPPORTED_METHODS)
def test_methods(method: str) -> None:
    assert one_rule(f'local all all "{method}"').method == method


def test_options() -> None:
    rule = one_rule("hostssl all all all trust clientcert=verify-ca clientname=CN")
    assert dict(rule.options) == {"clientcert": "verify-ca", "clientname": "CN"}
    assert dict(one_rule("hostssl all all all md5 clientcert=verify-full").options) == {
        "clientcert": "verify-full"}


# --- every error, with PostgreSQL's words ------------------------------------------------------

NO_HOST_NAMES = "Specify an IP address range in CIDR notation, or samehost or samenet."


@pytest.mark.parametrize("line, message, hint", [
    ("foo all all trust", 'invalid connection type "foo"', None),
    ("HOST all all all md5", 'invalid connection type "HOST"', None),
    ("host,local all all trust", "multiple values specified for connection type",
     "Specify exactly one connection type per line."),
    ("local", "end-of-line before database specification", None),
    ("local all", "end-of-line before role specification", None),
    ("local all all", "end-of-line before authentication method", None),
    ("host all all", "end-of-line before IP address specification", None),
    ("host all all 1.2.3.4", "end-of-line before netmask specification",
     "Specify an address range in CIDR notation, or provide a separate netmask."),
    ("host all all 1.2.3.4/32,1.2.3.5/32 trust", "multiple values specified for host address",
     "Specify one address range per line."),
    ("host all all 1.2.3.4 255.0.0.0,255.0.0.0 trust", "multiple values specified for netmask",
     None),
    ("host all all 1.2.3.4/33 md5", 'invalid CIDR mask in address "1.2.3.4/33"', None),
    ("host all all ::1/129 md5", 'invalid CIDR mask in address "::1/129"', None),
    ("host all all 1.2.3.4/0x8 md5", 'invalid CIDR mask in address "1.2.3.4/0x8"', None),
    ("host all all 1.2.3.4/ md5", 'invalid CIDR mask in address "1.2.3.4/"', None),
    ("host all all 1.2.3.4 md5", 'invalid IP mask "md5": Name or service not known', None),
    ("host all all 1.2.3.4 ::1 trust", "IP address and mask do not match", None),
    ("host all all foo/8 trust", 'specifying both host name and CIDR mask is invalid: "foo/8"',
     None),
    ("host all all foo trust", 'invalid IP address "foo": host names are not supported',
     NO_HOST_NAMES),
    ('host all all "samenet" trust', 'invalid IP address "samenet": host names are not supported',
     NO_HOST_NAMES),
    # A host name is reported last: a line with another mistake gets PostgreSQL's message.
    ("host all all foo 255.0.0.0 trust", 'invalid authentication method "255.0.0.0"', None),
    ("local all all trust,md5", "multiple values specified for authentication type",
     "Specify exactly one authentication type per line."),
    ("local all all bogus", 'invalid authentication method "bogus"', None),
    ("local all all MD5", 'invalid authentication method "MD5"', None),
    ("local all all foo x", 'invalid authentication method "foo"', None),
    ("local all all trust foo", "authentication option not in name=value format: foo", None),
    ("local all all trust =x", 'unrecognized authentication option name: ""', None),
    ("local all all md5 bogus=1", 'unrecognized authentication option name: "bogus"', None),
    ("local all all md5 map=x", 'authentication option "map" is only valid for authentication '
     "methods ident, peer, gssapi, sspi, and cert", None),
    ("local all all trust pamservice=x",
     'authentication option "pamservice" is only valid for authentication methods pam', None),
    ("local all all trust ldapurl=x",
     'authentication option "ldapurl" is only valid for authentication methods ldap', None),
    ("local all all trust krb_realm=x", 'authentication option "krb_realm" is only valid for '
     "authentication methods gssapi and sspi", None),
    ("local all all trust upn_username=1",
     'authentication option "upn_username" is only valid for authentication methods sspi', None),
    ("local all all trust radiussecrets=x",
     'authentication option "radiussecrets" is only valid for authentication methods radius',
     None),
    ("local all all trust clientcert=verify-full",
     'clientcert can only be configured for "hostssl" rows', None),
    ("host all all all trust clientname=CN", 'clientname can only be configured for "hostssl" rows',
     None),
    ("hostssl all all all trust clientcert=bogus", 'invalid value for clientcert: "bogus"', None),
    ("hostssl all all all trust clientname=cn", 'invalid value for clientname: "cn"', None),
    ("local @users all trust", 'secondary authentication files are not supported: "@users"',
     "List the names in the file itself."),
])
def test_parse_errors(line: str, message: str, hint: str | None) -> None:
    error = error_of(f"# header\n{line}\n")
    assert error.message == message
    assert error.hint == hint
    assert error.sqlstate == "F0000"
    assert error.line_number == 2
    assert error.context == f'line 2 of configuration file "{FILE}"'
    assert str(error) == f"{message} (line 2 of configuration file \"{FILE}\")"


@pytest.mark.parametrize("method", hba.UNSUPPORTED_METHODS)
def test_unsupported_methods_are_named(method: str) -> None:
    address = " all" if method != "peer" else ""
    kind = "host" if method != "peer" else "local"
    assert error_of(f"{kind} all all{address} {method}").message == (
        f'invalid authentication method "{method}": not supported by this build')


def test_every_bad_line_is_reported_and_the_file_rejected() -> None:
    error = error_of(
        "local all all trust\nlocal all all bogus\n\nhost all all\nlocal all all md5\n")
    assert [(e.line_number, e.message) for e in error.all_errors] == [
        (2, 'invalid authentication method "bogus"'),
        (4, "end-of-line before IP address specification")]
    assert error.all_errors[0] is error


@pytest.mark.parametrize("text", ["", "# nothing here\n", "\n\n  \n"])
def test_file_without_entries(text: str) -> None:
    error = error_of(text)
    assert error.message == f'configuration file "{FILE}" contains no entries'
    assert error.line_number is None and error.context is None


def test_load_hba(tmp_path: Path) -> None:
    path = tmp_path / "pg_hba.conf"
    path.write_bytes(b"local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    rules = load_hba(path)
    assert [rule.method for rule in rules] == ["trust", "scram-sha-256"]
    assert rules[0].file_name == str(path)


def test_load_hba_keeps_undecodable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "pg_hba.conf"
    path.write_bytes(b"local caf\xe9 all trust\n")
    rule = load_hba(path)[0]
    assert rule.databases[0].text.encode("utf-8", "surrogateescape") == b"caf\xe9"


def test_load_hba_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "missing.conf"
    with pytest.raises(HbaError) as caught:
        load_hba(missing)
    assert caught.value.message == (
        f'could not open configuration file "{missing}": No such file or directory')
    assert caught.value.sqlstate == "58P01"
    path = tmp_path / "pg_hba.conf"
    path.write_text("local all all trust\n" * 10)
    monkeypatch.setattr(hba, "HBA_FILE_MAX_BYTES", 100)
    with pytest.raises(HbaError, match="is larger than 100 bytes"):
        load_hba(path)
    bad = tmp_path / "bad.conf"
    bad.write_text("local all all trust\nlocal all all bogus\n")
    with pytest.raises(HbaError) as caught:
        load_hba(bad)
    assert caught.value.context == f'line 2 of configuration file "{bad}"'


def test_postgresql_sample_file_parses() -> None:
    """PostgreSQL 15's sample with initdb's substitutions (trust, as ``initdb -A trust``)."""
    if not os.path.exists(SAMPLE):
        pytest.skip(f"PostgreSQL 15's {SAMPLE} is not installed")
    with open(SAMPLE, encoding="utf-8") as file:
        sample = file.read()
    text = (sample.replace("@remove-line-for-nolocal@", "").replace("@authcomment@", "")
            .replace("@authmethodlocal@", "trust").replace("@authmethodhost@", "trust"))
    rules = parse_hba(text, FILE)
    assert [(rule.conn_type, rule.databases[0].text) for rule in rules] == [
        ("local", "all"), ("host", "all"), ("host", "all"),
        ("local", "replication"), ("host", "replication"), ("host", "replication")]
    loopback = ipaddress.ip_address("127.0.0.1")
    replication = match_hba(rules, conn_type="host", ssl=False, gss=False, database="replication",
                            user="u", address=loopback, is_replication=True)
    assert replication is not None and replication.databases[0].text == "replication"


# --- matching ----------------------------------------------------------------------------------

MATCH_RULES = parse_hba("""\
local   sameuser        all                                     trust
local   samerole        all                                     md5
local   replication     all                                     password
local   all             +admins                                 scram-sha-256
local   "all","samerole" "all"                                  reject
host    all             all             10.0.0.0/8              trust
hostssl all             all             192.168.0.0/16          md5
hostnossl all           all             192.168.0.0/16          password
hostgssenc all          all             172.16.0.0/12           md5
hostnogssenc all        all             172.16.0.0/12           password
host    db1,db2         alice,bob       ::1/128                 scram-sha-256
host    replication     repl            0.0.0.0/0               scram-sha-256
host    all             all             fe80::/10               reject
host    all             all             samehost                trust
host    all             all             samenet                 md5
""", FILE)

INTERFACES = (ipaddress.ip_interface("127.0.0.1/8"), ipaddress.ip_interface("203.0.113.7/24"))


def matched_line(conn_type: str = "host", *, ssl: bool = False, gss: bool = False,
                 database: str = "db", user: str = "u", address: str | None = None,
                 is_replication: bool = False,
                 user_roles: frozenset[str] = frozenset()) -> int | None:
    rule = match_hba(MATCH_RULES, conn_type=conn_type, ssl=ssl, gss=gss, database=database,
                     user=user, address=None if address is None else ipaddress.ip_address(address),
                     is_replication=is_replication, user_roles=user_roles, interfaces=INTERFACES)
    return None if rule is None else rule.line_number


@pytest.mark.parametrize("arguments, line", [
    (dict(conn_type="local", database="alice", user="alice"), 1),  # sameuser
    (dict(conn_type="local", database="staff", user="bob", user_roles=frozenset({"bob", "staff"})),
     2),  # samerole
    (dict(conn_type="local", database="replication", user="r", is_replication=True), 3),
    (dict(conn_type="local", database="db", user="carol",
          user_roles=frozenset({"carol", "admins"})), 4),  # +group
    # "all" and "samerole" quoted are plain names: database "samerole", user "all".
    (dict(conn_type="local", database="samerole", user="all"), 5),
    (dict(conn_type="local", database="db", user="dave"), None),
    (dict(address="10.1.2.3"), 6),
    (dict(address="10.1.2.3", ssl=True), 6),  # host matches with or without SSL
    (dict(address="192.168.1.1", ssl=True), 7),
    (dict(address="192.168.1.1", ssl=False), 8),
    (dict(address="172.16.0.1", gss=True), 9),
    (dict(address="172.16.0.1", gss=False), 10),
    (dict(address="::1", database="db2", user="bob"), 11),
    (dict(address="::1", database="db3", user="bob"), None),
    (dict(address="::1", database="db1", user="eve"), None),
    # A physical replication connection matches only the "replication" keyword, never "all".
    (dict(address="198.51.100.1", database="replication", user="repl", is_replication=True), 12),
    (dict(address="10.1.2.3", database="replication", user="repl", is_replication=True), 12),
    (dict(address="198.51.100.1", database="replication", user="other", is_replication=True),
     None),
    # ...and the keyword never matches an ordinary connection, even to a database of that name.
    (dict(address="198.51.100.1", database="replication", user="repl"), None),
    (dict(address="fe80::1"), 13),
    (dict(address="127.0.0.1"), 14),  # samehost: this host's own address
    (dict(address="203.0.113.7"), 14),
    (dict(address="203.0.113.99"), 15),  # samenet: an interface's network
    (dict(address="198.51.100.1"), None),
    (dict(address="::ffff:10.1.2.3"), None),  # IPv4-mapped IPv6 is not IPv4, as in PostgreSQL
])
def test_match_table(arguments: dict[str, object], line: int | None) -> None:
    assert matched_line(**arguments) == line  # type: ignore[arg-type]


def test_group_membership_requires_the_role_in_user_roles() -> None:
    # PostgreSQL says "no" for a role that does not exist: the backend passes no memberships.
    assert matched_line("local", database="db", user="admins") is None
    assert matched_line("local", database="db", user="admins",
                        user_roles=frozenset({"admins"})) == 4


def test_first_matching_rule_wins() -> None:
    rules = parse_hba("host all all 10.0.0.0/8 reject\nhost all all 10.1.0.0/16 trust\n", FILE)
    rule = match_hba(rules, conn_type="host", ssl=False, gss=False, database="d", user="u",
                     address=ipaddress.ip_address("10.1.0.1"), is_replication=False)
    assert rule is not None and rule.method == "reject"


def test_noncontiguous_netmask() -> None:
    rules = parse_hba("host all all 10.0.0.5 255.0.0.255 trust\n", FILE)

    def matches(address: str) -> bool:
        return match_hba(rules, conn_type="host", ssl=False, gss=False, database="d", user="u",
                         address=ipaddress.ip_address(address), is_replication=False) is not None

    assert matches("10.200.100.5") and not matches("10.0.0.6") and not matches("11.0.0.5")


def test_samehost_asks_the_kernel_when_no_interfaces_are_given(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake_interfaces() -> tuple[hba.IPInterface, ...]:
        calls.append(1)
        return (ipaddress.ip_interface("192.0.2.1/24"),)

    monkeypatch.setattr(hba, "local_interfaces", fake_interfaces)
    rules = parse_hba("host all all samehost trust\nhost all all samenet md5\n", FILE)
    rule = match_hba(rules, conn_type="host", ssl=False, gss=False, database="d", user="u",
                     address=ipaddress.ip_address("192.0.2.9"), is_replication=False)
    assert rule is not None and rule.method == "md5"
    assert calls == [1]  # asked once, only when a rule needed it
    assert match_hba(parse_hba("host all all all trust", FILE), conn_type="host", ssl=False,
                     gss=False, database="d", user="u", address=ipaddress.ip_address("1.1.1.1"),
                     is_replication=False) is not None
    assert calls == [1]


@pytest.mark.skipif(not os.path.exists("/proc/net"), reason="Linux interface enumeration")
def test_local_interfaces_include_loopback() -> None:
    addresses = {interface.ip for interface in hba.local_interfaces()}
    assert ipaddress.ip_address("127.0.0.1") in addresses


def test_match_arguments_are_checked() -> None:
    with pytest.raises(InvariantViolation):
        match_hba(MATCH_RULES, conn_type="hostssl", ssl=True, gss=False, database="d", user="u",
                  address=ipaddress.ip_address("1.1.1.1"), is_replication=False)
    with pytest.raises(InvariantViolation):
        match_hba(MATCH_RULES, conn_type="host", ssl=False, gss=False, database="d", user="u",
                  address=None, is_replication=False)


# --- messages ----------------------------------------------------------------------------------

@pytest.mark.parametrize("address, text", [
    (None, "[local]"), ("127.0.0.1", "127.0.0.1"), ("::1", "::1"),
    ("::ffff:1.2.3.4", "::ffff:1.2.3.4"), ("2001:db8::1", "2001:db8::1"),
    ("fe80::1%eth0", "fe80::1%eth0")])
def test_host_text(address: str | None, text: str) -> None:
    assert host_text(None if address is None else ipaddress.ip_address(address)) == text


def test_rejection_messages() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    assert no_match_message(address=loopback, user="bob", database="shop",
                            is_replication=False) == (
        'no pg_hba.conf entry for host "127.0.0.1", user "bob", database "shop", no encryption')
    assert no_match_message(address=None, user="repl", database="replication",
                            is_replication=True, ssl=True) == (
        'no pg_hba.conf entry for replication connection from host "[local]", user "repl", '
        "SSL encryption")
    assert reject_message(address=loopback, user="bob", database="shop", is_replication=False,
                          gss=True) == (
        'pg_hba.conf rejects connection for host "127.0.0.1", user "bob", database "shop", '
        "GSS encryption")
    assert reject_message(address=loopback, user="r", database="replication",
                          is_replication=True) == (
        'pg_hba.conf rejects replication connection for host "127.0.0.1", user "r", '
        "no encryption")
    rule = parse_hba("\n\nhost all all 10.0.0.0/8   md5  # office\n", FILE)[0]
    assert matched_line_detail(rule) == (
        'Connection matched pg_hba.conf line 3: "host all all 10.0.0.0/8   md5  # office"')


def test_parse_hba_lines_reports_each_record() -> None:
    outcomes = hba.parse_hba_lines("# c\nlocal all all trust\n\nlocal all all bogus\n", FILE)
    assert [type(outcome).__name__ for outcome in outcomes] == ["HbaRule", "HbaError"]
    assert [outcome.line_number for outcome in outcomes] == [2, 4]
    assert hba.parse_hba_lines("# nothing\n", FILE) == ()
