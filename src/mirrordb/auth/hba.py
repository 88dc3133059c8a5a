"""pg_hba.conf in PostgreSQL 15's format: tokenizer, parser and matcher.

Who calls it: the postmaster loads the file at start and on SIGHUP (``load_hba``) and, as
PostgreSQL does, keeps the previous rules when the new file has an error (at start-up an error
is fatal: "could not load pg_hba.conf"). Each backend, once it has read the startup packet,
asks ``match_hba`` which rule applies and then runs that rule's method; the exchanges themselves
live in ``scram.py`` and ``md5.py`` and the backend sends the protocol messages. When no rule
matches, the backend reports ``no_match_message(...)``; a matching ``reject`` rule is reported
with ``reject_message(...)``; the pg_hba_file_rules view can be built on ``parse_hba_lines``.
Everything here is pure except ``load_hba`` (reads the file) and
``local_interfaces`` (asks the kernel for this host's addresses, for ``samehost``/``samenet``).

The file format (PostgreSQL 15, ``hba.c``):

* Lines end at ``\\n``; trailing ``\\r``\\s are dropped; a backslash at the very end of a line
  joins the next line to it (the rule keeps the first line's number). A NUL ends the line.
* Tokens are separated by blanks (space, tab, carriage return). An unquoted ``#`` starts a
  comment, even inside a token. Double quotes protect blanks, commas and ``#``; ``""`` inside
  quotes is a literal quote. A token is "quoted" when it starts with a quote: quoted ``"all"``
  is a role or database named all, not the keyword. Tokens are at most 10239 characters.
* A comma directly after a token continues the same field (``db1,db2``; blanks may follow the
  comma, not precede it). Fields, in order::

      local      DATABASE  USER  METHOD  [OPTIONS]
      host*      DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
      host*      DATABASE  USER  IP-ADDRESS  IP-MASK  METHOD  [OPTIONS]

  ``host*`` is host, hostssl, hostnossl, hostgssenc or hostnogssenc. DATABASE tokens: keywords
  all, sameuser, samerole (samegroup), replication, or a name. USER tokens: all, ``+role``
  (members of role), or a name. ADDRESS: all, samehost, samenet, or a numeric address with an
  optional ``/bits`` CIDR suffix; without a suffix the next field is a netmask (which, as in
  PostgreSQL, need not be contiguous). Host names are not supported.
* METHOD: trust, reject, scram-sha-256, md5, password. PostgreSQL's other methods (ident, peer,
  gss, sspi, pam, bsd, ldap, cert, radius) are reported as not supported by this build.
  OPTIONS are ``name=value``; only clientcert and clientname (hostssl rows) apply to our methods.
* ``@file`` inclusion is not supported.
"""

from __future__ import annotations

import enum
import errno
import fcntl
import ipaddress
import os
import re
import socket
import struct
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from mirrordb.common.errors import HbaError, invariant

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# PostgreSQL 15 reads tokens into a 10240-byte buffer: 10239 characters and the terminator.
MAX_TOKEN_LENGTH = 10239
# Our own bound on the file, so a wrong path (a huge log file) cannot exhaust memory.
HBA_FILE_MAX_BYTES = 16 * 1024 * 1024

CONNECTION_TYPES = ("local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc")
SUPPORTED_METHODS = ("trust", "reject", "scram-sha-256", "md5", "password")
UNSUPPORTED_METHODS = ("ident", "peer", "gss", "sspi", "pam", "bsd", "ldap", "cert", "radius")

# Options PostgreSQL accepts only for methods we do not support, with its list of those methods.
_METHOD_SPECIFIC_OPTIONS: Mapping[str, str] = MappingProxyType({
    "map": "ident, peer, gssapi, sspi, and cert",
    "pamservice": "pam", "pam_use_hostname": "pam",
    **{name: "ldap" for name in (
        "ldapurl", "ldaptls", "ldapscheme", "ldapserver", "ldapport", "ldapbinddn",
        "ldapbindpasswd", "ldapsearchattribute", "ldapsearchfilter", "ldapbasedn",
        "ldapprefix", "ldapsuffix")},
    "krb_realm": "gssapi and sspi", "include_realm": "gssapi and sspi",
    "compat_realm": "sspi", "upn_username": "sspi",
    "radiusservers": "radius", "radiusports": "radius", "radiussecrets": "radius",
    "radiusidentifiers": "radius",
})
_CLIENTCERT_VALUES = ("verify-full", "verify-ca")
_CLIENTNAME_VALUES = ("CN", "DN")

_BLANKS = " \t\r"
# strtol(3) in base 10, as PostgreSQL reads a CIDR suffix: leading white space, a sign, digits.
_CIDR_BITS = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")
# What gai_strerror(EAI_NONAME) says on glibc; used when the text never reaches getaddrinfo.
_EAI_NONAME_TEXT = "Name or service not known"
_FILE_ACCESS_SQLSTATE = {errno.ENOENT: "58P01", errno.ENOTDIR: "58P01", errno.EACCES: "42501",
                         errno.EPERM: "42501"}

# Linux ioctls for one interface's IPv4 address and netmask; struct ifreq is 40 bytes, the
# sockaddr_in starts at byte 16 and its address at byte 20.
_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B
_IFREQ_FORMAT = "16s24s"
_IFREQ_SIZE = struct.calcsize(_IFREQ_FORMAT)
invariant(_IFREQ_SIZE == 40, "struct ifreq is 40 bytes")
_IFREQ_ADDRESS_OFFSET = 20
_PROC_IF_INET6 = "/proc/net/if_inet6"


class IpCompareMethod(enum.Enum):
    """How a host rule's ADDRESS field compares the client address (PostgreSQL's ipCmp*)."""

    MASK = "mask"
    ALL = "all"
    SAMEHOST = "samehost"
    SAMENET = "samenet"


@dataclass(frozen=True, slots=True)
class HbaToken:
    """One DATABASE or USER token; ``quoted`` is true when the token began with a quote."""

    text: str
    quoted: bool = False

    def is_keyword(self, keyword: str) -> bool:
        return not self.quoted and self.text == keyword


@dataclass(frozen=True, slots=True)
class HbaAddress:
    """A host rule's ADDRESS: a keyword, or an address and mask of the same IP version."""

    method: IpCompareMethod
    address: IPAddress | None = None
    mask: IPAddress | None = None

    def __post_init__(self) -> None:
        has_mask = self.address is not None and self.mask is not None
        invariant(has_mask == (self.method is IpCompareMethod.MASK),
                  f"{self.method} rule with address {self.address} and mask {self.mask}")

    def matches(self, client: IPAddress, interfaces: Callable[[], Sequence[IPInterface]]) -> bool:
        """Does ``client`` match? ``interfaces`` is called only for samehost and samenet."""
        if self.method is IpCompareMethod.ALL:
            return True
        if self.method is IpCompareMethod.MASK:
            assert self.address is not None and self.mask is not None
            return _in_range(client, self.address, self.mask)
        for interface in interfaces():
            mask = (interface.network.netmask if self.method is IpCompareMethod.SAMENET
                    else _full_mask(interface.version))
            if _in_range(client, interface.ip, mask):
                return True
        return False


@dataclass(frozen=True, slots=True)
class HbaRule:
    """One parsed pg_hba.conf record (PostgreSQL's HbaLine)."""

    file_name: str
    line_number: int
    raw_line: str
    conn_type: str
    databases: tuple[HbaToken, ...]
    users: tuple[HbaToken, ...]
    address: HbaAddress | None  # None for local rules
    method: str
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def __post_init__(self) -> None:
        invariant(self.conn_type in CONNECTION_TYPES, f"connection type {self.conn_type!r}")
        invariant((self.address is None) == (self.conn_type == "local"),
                  f"{self.conn_type} rule with address {self.address}")
        invariant(self.method in SUPPORTED_METHODS, f"method {self.method!r}")


# --- loading and parsing ------------------------------------------------------------------------

def load_hba(path: str | os.PathLike[str]) -> tuple[HbaRule, ...]:
    """Read and parse the file at ``path``; errors name ``path`` as PostgreSQL names HbaFileName."""
    file_name = os.fspath(path)
    try:
        with open(file_name, "rb") as file:
            data = file.read(HBA_FILE_MAX_BYTES + 1)
    except OSError as error:
        raise HbaError(f'could not open configuration file "{file_name}": {error.strerror}',
                       file_name=file_name,
                       sqlstate=_FILE_ACCESS_SQLSTATE.get(error.errno or 0, "58030")) from error
    if len(data) > HBA_FILE_MAX_BYTES:
        raise HbaError(
            f'configuration file "{file_name}" is larger than {HBA_FILE_MAX_BYTES} bytes',
            file_name=file_name, sqlstate="54000")
    return parse_hba(data.decode("utf-8", "surrogateescape"), file_name)


def parse_hba(text: str, file_name: str) -> tuple[HbaRule, ...]:
    """Parse a whole file; raise the first bad line's error, all of them in ``all_errors``."""
    outcomes = parse_hba_lines(text, file_name)
    errors = [outcome for outcome in outcomes if isinstance(outcome, HbaError)]
    if errors:
        errors[0].all_errors = tuple(errors)
        raise errors[0]
    if not outcomes:
        raise HbaError(f'configuration file "{file_name}" contains no entries', file_name=file_name)
    return tuple(outcome for outcome in outcomes if isinstance(outcome, HbaRule))


def parse_hba_lines(text: str, file_name: str) -> tuple[HbaRule | HbaError, ...]:
    """Every record of the file, parsed or refused, in order: what PostgreSQL's
    pg_hba_file_rules view shows (one row per line that is not blank or a comment)."""
    outcomes: list[HbaRule | HbaError] = []
    for line_number, line in _logical_lines(text):
        try:
            fields = _split_fields(line, file_name, line_number)
            if fields:
                outcomes.append(_RuleParser(file_name, line_number, line, fields).parse())
        except HbaError as error:
            outcomes.append(error)
    return tuple(outcomes)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (first line number, line) with backslash continuations joined, as PostgreSQL reads."""
    physical = text.split("\n")
    index = 0
    line_number = 1
    while index < len(physical):
        line = ""
        last_backslash_length = 0
        continuations = 0
        while index < len(physical):
            line = (line + physical[index]).split("\0", 1)[0].rstrip("\r\n")
            index += 1
            # The backslash must lie beyond the previous continuation's cut, so "\\" + two
            # newlines does not join three lines.
            if len(line) > last_backslash_length and line.endswith("\\"):
                line = line[:-1]
                last_backslash_length = len(line)
                continuations += 1
                continue
            break
        yield line_number, line
        line_number += continuations + 1


def _split_fields(line: str, file_name: str, line_number: int) -> list[list[HbaToken]]:
    """Split one logical line into fields, each a list of comma-separated tokens."""
    fields: list[list[HbaToken]] = []
    position = 0
    while position < len(line):
        tokens, position = _next_field(line, position, file_name, line_number)
        if tokens:
            fields.append(tokens)
    return fields


def _next_field(line: str, position: int, file_name: str,
                line_number: int) -> tuple[list[HbaToken], int]:
    tokens: list[HbaToken] = []
    while True:
        token, terminating_comma, position = _next_token(line, position, file_name, line_number)
        if token is None:
            break
        if not token.quoted and len(token.text) > 1 and token.text[0] == "@":
            raise HbaError(f'secondary authentication files are not supported: "{token.text}"',
                           file_name=file_name, line_number=line_number,
                           hint="List the names in the file itself.")
        tokens.append(token)
        if not terminating_comma:
            break
    return tokens, position


def _next_token(line: str, position: int, file_name: str,
                line_number: int) -> tuple[HbaToken | None, bool, int]:
    """PostgreSQL's next_token: returns (token or None, ended by a comma, position after it).

    The position is left on the blank or comma that ended the token, so the next call skips it.
    """
    end = len(line)
    while position < end and (line[position] in _BLANKS or line[position] == ","):
        position += 1
    characters: list[str] = []
    in_quote = was_quote = saw_quote = initial_quote = terminating_comma = False
    while position < end:
        character = line[position]
        if character in _BLANKS and not in_quote:
            break
        if character == "#" and not in_quote:
            position = end
            break
        if len(characters) >= MAX_TOKEN_LENGTH:
            raise HbaError(f'authentication file token too long, skipping: "{"".join(characters)}"',
                           file_name=file_name, line_number=line_number)
        if character == "," and not in_quote:
            terminating_comma = True
            break
        if character != '"' or was_quote:
            characters.append(character)
        was_quote = (not was_quote) if (in_quote and character == '"') else False
        if character == '"':
            in_quote = not in_quote
            saw_quote = True
            initial_quote = initial_quote or not characters
        position += 1
    if not saw_quote and not characters:
        return None, False, position
    return HbaToken("".join(characters), initial_quote), terminating_comma, position


class _RuleParser:
    """One line's fields into an HbaRule; raises PostgreSQL's message for the first problem."""

    def __init__(self, file_name: str, line_number: int, raw_line: str,
                 fields: list[list[HbaToken]]) -> None:
        self.file_name = file_name
        self.line_number = line_number
        self.raw_line = raw_line
        self.fields = fields
        self.index = 0
        self.host_name: str | None = None  # an ADDRESS PostgreSQL would take as a host name

    def error(self, message: str, hint: str | None = None) -> HbaError:
        return HbaError(message, file_name=self.file_name, line_number=self.line_number, hint=hint)

    def next_field(self, end_of_line_message: str, hint: str | None = None) -> list[HbaToken]:
        if self.index >= len(self.fields):
            raise self.error(end_of_line_message, hint)
        self.index += 1
        return self.fields[self.index - 1]

    def single(self, tokens: list[HbaToken], message: str, hint: str | None = None) -> HbaToken:
        if len(tokens) > 1:
            raise self.error(message, hint)
        return tokens[0]

    def parse(self) -> HbaRule:
        conn_type = self.parse_connection_type()
        databases = self.next_field("end-of-line before database specification")
        users = self.next_field("end-of-line before role specification")
        address = None if conn_type == "local" else self.parse_address()
        method = self.parse_method()
        options = self.parse_options(conn_type)
        if self.host_name is not None:
            # Reported last, so a line PostgreSQL rejects gets PostgreSQL's message.
            raise self.error(f'invalid IP address "{self.host_name}": host names are not supported',
                             "Specify an IP address range in CIDR notation, or samehost or "
                             "samenet.")
        return HbaRule(file_name=self.file_name, line_number=self.line_number,
                       raw_line=self.raw_line, conn_type=conn_type, databases=tuple(databases),
                       users=tuple(users), address=address, method=method,
                       options=MappingProxyType(options))

    def parse_connection_type(self) -> str:
        invariant(bool(self.fields) and bool(self.fields[0]), "a rule has a first field")
        token = self.single(self.next_field(""),
                            "multiple values specified for connection type",
                            "Specify exactly one connection type per line.")
        if token.text not in CONNECTION_TYPES:
            raise self.error(f'invalid connection type "{token.text}"')
        return token.text

    def parse_address(self) -> HbaAddress | None:
        """The ADDRESS (and netmask) fields; None for a host name, reported at the end."""
        token = self.single(self.next_field("end-of-line before IP address specification"),
                            "multiple values specified for host address",
                            "Specify one address range per line.")
        for method in (IpCompareMethod.ALL, IpCompareMethod.SAMEHOST, IpCompareMethod.SAMENET):
            if token.is_keyword(method.value):
                return HbaAddress(method)
        host, slash, bits = token.text.partition("/")
        address, failure = _numeric_address(host)
        if failure is not None:
            raise self.error(f'invalid IP address "{host}": {failure}')
        if address is None:
            if slash:
                raise self.error(
                    f'specifying both host name and CIDR mask is invalid: "{token.text}"')
            self.host_name = host
            return None
        if slash:
            mask = _cidr_mask(bits, address.version)
            if mask is None:
                raise self.error(f'invalid CIDR mask in address "{token.text}"')
        else:
            mask = self.parse_netmask(address)
        return HbaAddress(IpCompareMethod.MASK, address, mask)

    def parse_netmask(self, address: IPAddress) -> IPAddress:
        token = self.single(
            self.next_field("end-of-line before netmask specification",
                            "Specify an address range in CIDR notation, or provide a separate "
                            "netmask."),
            "multiple values specified for netmask")
        mask, failure = _numeric_address(token.text)
        if mask is None:
            raise self.error(f'invalid IP mask "{token.text}": {failure or _EAI_NONAME_TEXT}')
        if mask.version != address.version:
            raise self.error("IP address and mask do not match")
        return mask

    def parse_method(self) -> str:
        token = self.single(self.next_field("end-of-line before authentication method"),
                            "multiple values specified for authentication type",
                            "Specify exactly one authentication type per line.")
        if token.text in SUPPORTED_METHODS:
            return token.text
        if token.text in UNSUPPORTED_METHODS:
            raise self.error(
                f'invalid authentication method "{token.text}": not supported by this build')
        raise self.error(f'invalid authentication method "{token.text}"')

    def parse_options(self, conn_type: str) -> dict[str, str]:
        options: dict[str, str] = {}
        for tokens in self.fields[self.index:]:
            for token in tokens:
                name, equals, value = token.text.partition("=")
                if not equals:
                    raise self.error(
                        f"authentication option not in name=value format: {token.text}")
                self.check_option(name, value, conn_type)
                options[name] = value
        return options

    def check_option(self, name: str, value: str, conn_type: str) -> None:
        if name in ("clientcert", "clientname"):
            if conn_type != "hostssl":
                raise self.error(f'{name} can only be configured for "hostssl" rows')
            allowed = _CLIENTCERT_VALUES if name == "clientcert" else _CLIENTNAME_VALUES
            if value not in allowed:
                raise self.error(f'invalid value for {name}: "{value}"')
        elif name in _METHOD_SPECIFIC_OPTIONS:
            raise self.error(f'authentication option "{name}" is only valid for authentication '
                             f"methods {_METHOD_SPECIFIC_OPTIONS[name]}")
        else:
            raise self.error(f'unrecognized authentication option name: "{name}"')


def _numeric_address(text: str) -> tuple[IPAddress | None, str | None]:
    """Parse as PostgreSQL does, with getaddrinfo(AI_NUMERICHOST) (no lookup happens).

    Returns (address, None); (None, None) when the text is not numeric (a host name, in
    PostgreSQL); (None, reason) for getaddrinfo's other failures. glibc accepts the inet_aton
    forms too ("127.1", "010.0.0.1" is 8.0.0.1). Non-ASCII text is never numeric (Python would
    IDNA-encode it first).
    """
    if not text.isascii() or not text:
        return None, None
    try:
        results = socket.getaddrinfo(text, None, socket.AF_UNSPEC, 0, 0, socket.AI_NUMERICHOST)
    except socket.gaierror as error:
        if error.errno == socket.EAI_NONAME:
            return None, None
        return None, str(error.strerror)
    except (UnicodeError, ValueError):
        return None, None
    return ipaddress.ip_address(results[0][4][0]), None


def _cidr_mask(bits_text: str, version: int) -> IPAddress | None:
    match = _CIDR_BITS.fullmatch(bits_text)
    if match is None:
        return None
    bits = int(match.group(1))
    width = _address_width(version)
    if not 0 <= bits <= width:
        return None
    return ipaddress.ip_address(_as_version(_full_int(width) ^ _full_int(width - bits), version))


def _address_width(version: int) -> int:
    return 32 if version == 4 else 128


def _full_int(width: int) -> int:
    return (1 << width) - 1


def _full_mask(version: int) -> IPAddress:
    return ipaddress.ip_address(_as_version(_full_int(_address_width(version)), version))


def _as_version(value: int, version: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def _in_range(client: IPAddress, address: IPAddress, mask: IPAddress) -> bool:
    """PostgreSQL's check_ip: same family, and the masked bits equal (IPv6 scopes ignored)."""
    if client.version != address.version:
        return False
    return (int(client) ^ int(address)) & int(mask) == 0


# --- matching ----------------------------------------------------------------------------------

def match_hba(rules: Iterable[HbaRule], *, conn_type: str, ssl: bool, gss: bool, database: str,
              user: str, address: IPAddress | None, is_replication: bool,
              user_roles: frozenset[str] = frozenset(),
              interfaces: Sequence[IPInterface] | None = None) -> HbaRule | None:
    """The first rule that matches the connection (PostgreSQL's check_hba), or None.

    ``conn_type`` is 'local' (Unix socket, ``address`` None) or 'host' (TCP, ``address`` the
    peer); ``ssl`` says the connection uses TLS, ``gss`` that it uses GSSAPI encryption (both
    always False in mirrordb today, which answers 'N' to SSLRequest and GSSENCRequest).
    ``is_replication`` means a physical walsender (``replication=true``): it matches only
    the ``replication`` keyword, and ``all`` does not match it; a logical walsender
    (``replication=database``) is an ordinary connection here. ``user_roles`` is every role the
    user is a member of, directly or not, including the user itself, but without superuser's
    implicit membership (PostgreSQL's is_member_of_role_nosuper); empty when the role does not
    exist. ``interfaces`` are this host's addresses for samehost/samenet; None asks the kernel
    (``local_interfaces``) the first time a rule needs them.
    """
    invariant(conn_type in ("local", "host"), f"connection type {conn_type!r}")
    invariant((address is None) == (conn_type == "local"),
              f"{conn_type} connection with address {address}")
    interface_cache: list[Sequence[IPInterface]] = [] if interfaces is None else [interfaces]

    def host_interfaces() -> Sequence[IPInterface]:
        if not interface_cache:
            interface_cache.append(local_interfaces())
        return interface_cache[0]

    for rule in rules:
        if not _connection_matches(rule, conn_type, ssl, gss, address, host_interfaces):
            continue
        if not _database_matches(rule.databases, database, user, is_replication, user_roles):
            continue
        if not _user_matches(rule.users, user, user_roles):
            continue
        return rule
    return None


def _connection_matches(rule: HbaRule, conn_type: str, ssl: bool, gss: bool,
                        address: IPAddress | None,
                        interfaces: Callable[[], Sequence[IPInterface]]) -> bool:
    if (rule.conn_type == "local") != (conn_type == "local"):
        return False
    if rule.conn_type == "local":
        return True
    if rule.conn_type == ("hostnossl" if ssl else "hostssl"):
        return False
    if rule.conn_type == ("hostnogssenc" if gss else "hostgssenc"):
        return False
    assert rule.address is not None and address is not None
    return rule.address.matches(address, interfaces)


def _database_matches(tokens: Sequence[HbaToken], database: str, user: str, is_replication: bool,
                      user_roles: frozenset[str]) -> bool:
    for token in tokens:
        if is_replication:
            if token.is_keyword("replication"):
                return True
        elif token.is_keyword("all"):
            return True
        elif token.is_keyword("sameuser"):
            if database == user:
                return True
        elif token.is_keyword("samerole") or token.is_keyword("samegroup"):
            if database in user_roles:
                return True
        elif token.is_keyword("replication"):
            continue
        elif token.text == database:
            return True
    return False


def _user_matches(tokens: Sequence[HbaToken], user: str, user_roles: frozenset[str]) -> bool:
    for token in tokens:
        if not token.quoted and token.text.startswith("+"):
            if token.text[1:] in user_roles:
                return True
        elif token.text == user or token.is_keyword("all"):
            return True
    return False


# --- messages the backend reports --------------------------------------------------------------

def no_match_message(*, address: IPAddress | None, user: str, database: str,
                     is_replication: bool, ssl: bool = False, gss: bool = False) -> str:
    """PostgreSQL's FATAL (28000) when no rule matched; ``address`` None is a Unix socket."""
    host = host_text(address)
    encryption = _encryption_state(ssl, gss)
    if is_replication:
        return (f'no pg_hba.conf entry for replication connection from host "{host}", '
                f'user "{user}", {encryption}')
    return (f'no pg_hba.conf entry for host "{host}", user "{user}", database "{database}", '
            f"{encryption}")


def reject_message(*, address: IPAddress | None, user: str, database: str,
                   is_replication: bool, ssl: bool = False, gss: bool = False) -> str:
    """PostgreSQL's FATAL (28000) when the matching rule's method is ``reject``."""
    host = host_text(address)
    encryption = _encryption_state(ssl, gss)
    if is_replication:
        return (f'pg_hba.conf rejects replication connection for host "{host}", user "{user}", '
                f"{encryption}")
    return (f'pg_hba.conf rejects connection for host "{host}", user "{user}", '
            f'database "{database}", {encryption}')


def matched_line_detail(rule: HbaRule) -> str:
    """The log-only DETAIL PostgreSQL adds to an authentication failure."""
    return f'Connection matched pg_hba.conf line {rule.line_number}: "{rule.raw_line}"'


def host_text(address: IPAddress | None) -> str:
    """The client address as PostgreSQL prints it (getnameinfo NI_NUMERICHOST): "[local]" for a
    Unix socket, glibc's inet_ntop form for IPv6 (``::ffff:1.2.3.4``), with any scope."""
    if address is None:
        return "[local]"
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    text = socket.inet_ntop(socket.AF_INET6, address.packed)
    return text if address.scope_id is None else f"{text}%{address.scope_id}"


def _encryption_state(ssl: bool, gss: bool) -> str:
    if gss:
        return "GSS encryption"
    return "SSL encryption" if ssl else "no encryption"


# --- this host's addresses (I/O) ---------------------------------------------------------------

def local_interfaces() -> tuple[IPInterface, ...]:
    """This host's interface addresses with their netmasks, for samehost and samenet.

    Linux only (IPv4 from SIOCGIFADDR/SIOCGIFNETMASK per interface, IPv6 from
    /proc/net/if_inet6); elsewhere, or on failure, the empty tuple, so samehost and samenet match
    nothing (PostgreSQL logs "error enumerating network interfaces" and does the same).
    """
    if not sys.platform.startswith("linux"):
        return ()
    return _ipv4_interfaces() + _ipv6_interfaces()


def _ipv4_interfaces() -> tuple[IPInterface, ...]:
    found: list[IPInterface] = []
    try:
        names = [name for _, name in socket.if_nameindex()]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            for name in names:
                request = struct.pack(_IFREQ_FORMAT, name.encode()[:15], b"")
                try:
                    address = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
                    netmask = fcntl.ioctl(probe.fileno(), _SIOCGIFNETMASK, request)
                except OSError:
                    continue  # no IPv4 address on this interface
                found.append(ipaddress.IPv4Interface(
                    (_ifreq_ipv4(address), str(_ifreq_ipv4(netmask)))))
    except OSError:
        return ()
    return tuple(found)


def _ifreq_ipv4(ifreq: bytes) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(ifreq[_IFREQ_ADDRESS_OFFSET:_IFREQ_ADDRESS_OFFSET + 4])


def _ipv6_interfaces() -> tuple[IPInterface, ...]:
    """Lines of /proc/net/if_inet6: address (32 hex digits), index, prefix length (hex), ..."""
    try:
        with open(_PROC_IF_INET6, encoding="ascii") as file:
            lines = file.read(1024 * 1024).splitlines()
    except OSError:
        return ()
    found: list[IPInterface] = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and len(parts[0]) == 32:
            address = ipaddress.IPv6Address(int(parts[0], 16))
            found.append(ipaddress.IPv6Interface((address, int(parts[2], 16))))
    return tuple(found)
