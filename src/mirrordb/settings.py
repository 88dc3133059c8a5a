"""Server settings: the table of every setting mirrordb supports, units, and config file parsing.

Settings keep PostgreSQL's names, units and defaults. ``postgresql.conf`` is read first, then
``postgresql.auto.conf`` (ALTER SYSTEM), then explicit overrides (``-c name=value``). Values are
stored in the setting's base unit (bytes for memory/size, milliseconds for time) unless the
setting is unit-less. The server layer adds reload/restart contexts on top of this table.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from mirrordb.common.errors import InvalidParameterValue


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    kind: str          # bool | int | enum | string | size | time
    description: str
    unit_bytes: int = 1     # for size: the unit a bare number means (PostgreSQL's GUC_UNIT)
    unit_ms: int = 1        # for time
    choices: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting("shared_buffers", "128MB", "size", "Memory for the buffer pool.", unit_bytes=8192),
    Setting("wal_level", "replica", "enum", "How much information is written to the WAL.",
            choices=("minimal", "replica", "logical")),
    Setting("fsync", "on", "bool", "Force writes to disk."),
    Setting("synchronous_commit", "on", "enum", "Wait for the WAL flush at commit.",
            choices=("off", "local", "remote_write", "on", "remote_apply")),
    Setting("full_page_writes", "on", "bool", "Write full pages to WAL when first modified "
            "after a checkpoint."),
    Setting("wal_consistency_checking", "", "string",
            "Check each replayed page against the full-page image the writer attached "
            "(on, off, all, or a list of resource managers)."),
    Setting("wal_buffers", "4MB", "size", "WAL kept in memory before it must be written.",
            unit_bytes=8192),
    Setting("wal_writer_delay", "200ms", "time", "Interval between WAL writer flushes."),
    Setting("checkpoint_timeout", "5min", "time", "Maximum time between automatic checkpoints.",
            unit_ms=1000),
    Setting("max_wal_size", "1GB", "size", "WAL size that triggers a checkpoint.",
            unit_bytes=1024 * 1024),
    Setting("min_wal_size", "80MB", "size", "WAL kept for recycling below this size.",
            unit_bytes=1024 * 1024),
    Setting("wal_keep_size", "0", "size", "WAL kept for standbys beyond what checkpoints need.",
            unit_bytes=1024 * 1024),
    Setting("checkpoint_completion_target", "0.9", "string",
            "Fraction of the checkpoint interval to spread a checkpoint over."),
    Setting("max_connections", "100", "int", "Maximum number of concurrent connections."),
    Setting("port", "5432", "int", "TCP port the server listens on."),
    Setting("listen_addresses", "localhost", "string", "Addresses to listen on."),
    Setting("max_wal_senders", "10", "int", "Maximum number of WAL sender processes."),
    Setting("max_replication_slots", "10", "int", "Maximum number of replication slots."),
    Setting("hot_standby", "on", "bool", "Allow queries during recovery."),
    Setting("default_transaction_isolation", "read committed", "enum",
            "Isolation level of new transactions.",
            choices=("read committed", "repeatable read", "serializable",
                     "read uncommitted")),
)
SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}

_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}
_TIME_UNITS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_TRUE = {"on", "true", "yes", "1", "t", "y"}
_FALSE = {"off", "false", "no", "0", "f", "n"}


def parse_value(setting: Setting, text: str) -> object:
    """Convert ``text`` to the setting's value (bytes, ms, bool, int or str)."""
    value = text.strip()
    match setting.kind:
        case "bool":
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
        case "int":
            if re.fullmatch(r"-?\d+", value):
                return int(value)
        case "enum":
            if value.lower() in setting.choices:
                return value.lower()
        case "string":
            return value
        case "size":
            return _with_unit(setting, value, _SIZE_UNITS, setting.unit_bytes)
        case "time":
            return _with_unit(setting, value, _TIME_UNITS, setting.unit_ms)
    raise InvalidParameterValue(
        f'invalid value for parameter "{setting.name}": "{text}"')


def _with_unit(setting: Setting, value: str, units: dict[str, float], base: int) -> int:
    match = re.fullmatch(r"(-?\d+)\s*([a-zA-Z]*)", value)
    if match is None:
        raise InvalidParameterValue(f'invalid value for parameter "{setting.name}": "{value}"')
    number, unit = int(match.group(1)), match.group(2).lower()
    if not unit:
        return number * base
    if unit not in units:
        raise InvalidParameterValue(
            f'invalid value for parameter "{setting.name}": "{value}"',
            hint="Valid units for this parameter are " + ", ".join(units) + ".")
    return int(number * units[unit])


_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=?\s*(.*?)\s*$")


def parse_config_text(text: str) -> dict[str, str]:
    """Name/value pairs of a postgresql.conf-style file (later lines win)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        value = match.group(2)
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1].replace("''", "'")
        values[match.group(1).lower()] = value
    return values


def _strip_comment(line: str) -> str:
    quoted = False
    for index, char in enumerate(line):
        if char == "'":
            quoted = not quoted
        elif char == "#" and not quoted:
            return line[:index]
    return line


class Settings:
    """Effective values, with attribute-style access: ``settings.get('wal_level')``."""

    def __init__(self, overrides: dict[str, str] | None = None,
                 datadir: str | None = None) -> None:
        raw = {setting.name: setting.default for setting in SETTINGS}
        if datadir is not None:
            for name in ("postgresql.conf", "postgresql.auto.conf"):
                path = os.path.join(datadir, name)
                if os.path.exists(path):
                    with open(path, encoding="utf-8") as handle:
                        raw.update({k: v for k, v in parse_config_text(handle.read()).items()
                                    if k in SETTINGS_BY_NAME})
        for name, value in (overrides or {}).items():
            if name not in SETTINGS_BY_NAME:
                raise InvalidParameterValue(
                    f'unrecognized configuration parameter "{name}"', sqlstate="42704")
            raw[name] = str(value)
        self.raw = raw
        self.values = {name: parse_value(SETTINGS_BY_NAME[name], text)
                       for name, text in raw.items()}

    def get(self, name: str) -> object:
        return self.values[name]


def render_postgresql_conf() -> str:
    """The postgresql.conf initdb writes: every supported setting, commented, with its default."""
    lines = ["# mirrordb configuration file, in PostgreSQL's format.",
             "# Each setting shows its default; uncomment and change it to override.", ""]
    for setting in SETTINGS:
        lines.append(f"#{setting.name} = '{setting.default}'\t\t# {setting.description}")
    return "\n".join(lines) + "\n"
