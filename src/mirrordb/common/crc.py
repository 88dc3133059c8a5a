"""CRC-32C (Castagnoli), the checksum of WAL records, the control file and slot files.

Backed by the C extension of the ``crc32c`` package. ``crc32c(data)`` returns the finished
checksum (initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF, as PostgreSQL's
INIT_CRC32C/FIN_CRC32C); ``crc32c(more, crc32c(first))`` continues a running checksum over
several pieces. ``crc32c_function`` is the C function itself, for hot loops (wal/record.py)
that cannot afford the wrapper's call.

The extension (``crc32c._crc32c``) is loaded straight from the package's directory: importing
the package runs its ``__init__``, which imports ``importlib.metadata`` (and ``email``) for a
version string, 20-40 ms of every process start. If the file cannot be found that way (another
layout of the package), the package is imported normally.
"""

from __future__ import annotations

import importlib.machinery
from collections.abc import Callable
from types import ModuleType

PACKAGE_NAME = "crc32c"
EXTENSION_NAME = "crc32c._crc32c"
EXTENSION_STEM = "_crc32c"

CrcFunction = Callable[[bytes | bytearray | memoryview, int], int]


def _extension_path() -> str | None:
    """Path of the package's compiled extension, found without importing the package."""
    spec = importlib.machinery.PathFinder.find_spec(PACKAGE_NAME)
    if spec is None or not spec.submodule_search_locations:
        return None
    finder = importlib.machinery.FileFinder(
        spec.submodule_search_locations[0],
        (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES))
    found = finder.find_spec(EXTENSION_STEM)
    return found.origin if found is not None else None


def _load_extension() -> ModuleType:
    """The C extension module, loaded by file (falls back to importing the package)."""
    path = _extension_path()
    if path is None:
        import crc32c as package
        return package
    loader = importlib.machinery.ExtensionFileLoader(EXTENSION_NAME, path)
    spec = importlib.machinery.ModuleSpec(EXTENSION_NAME, loader, origin=path)
    module = loader.create_module(spec)
    loader.exec_module(module)
    return module


crc32c_function: CrcFunction = _load_extension().crc32c


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32C of ``data``, continuing from the finished checksum ``value`` of earlier bytes."""
    return crc32c_function(data, value)
