"""Sequences: one page per sequence holding the highest value that may have been handed out.

PostgreSQL logs a sequence ahead: one WAL record reserves the next ``SEQ_LOG_VALS`` values, so
nextval() writes WAL only once per 32 calls, and after a crash the sequence resumes past every value
it could have returned (it may skip some, never repeats). mirrordb keeps the same contract with
byte-identical pages: the page stores exactly the reserved high-water mark that the WAL record
carries (so primary and standby pages are equal), and the values below it are handed out from memory.

Page layout: a standard page with one item::

    last_value  i64   the reserved high-water mark (or, when is_called is false, the next value)
    is_called   u8    then 7 zero bytes

WAL record (resource manager ``mirrordb_sequence``, id 130): ``SEQ_LOG`` 0x00, block 0 with
REGBUF_WILL_INIT and the item as data; redo rebuilds the page from it. A sequence created by a
running transaction under wal_level=minimal skips the record (and its flush) until that
transaction commits, as PostgreSQL's RelationNeedsWAL does (access/env.py).
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mirrordb.access.unlogged import copy_to_init_fork
from mirrordb.common.errors import MirrordbError, invariant
from mirrordb.common.lsn import INVALID_LSN
from mirrordb.recovery.redo import RedoContext, register_redo
from mirrordb.storage import page as pagelib
from mirrordb.storage.relfilenode import MAIN_FORKNUM, RelFileNode
from mirrordb.wal.record import REGBUF_STANDARD, REGBUF_WILL_INIT, DecodedRecord
from mirrordb.wal.rmgr import RM_MIRRORDB_SEQUENCE_ID
from mirrordb.wal.writer import BlockRegistration

if TYPE_CHECKING:
    from mirrordb.access.env import AccessEnv

SEQ_LOG_VALS = 32
XLOG_SEQ_LOG = 0x00
_ITEM = struct.Struct("<q?7x")
assert _ITEM.size == 16


@dataclass(frozen=True)
class SequenceParams:
    start: int = 1
    increment: int = 1
    min_value: int = 1
    max_value: int = 2**63 - 1
    cycle: bool = False


@dataclass(eq=False)
class _State:
    last_handed: int | None
    next_start: int
    reserved: int


def page_set_sequence(page: bytearray, last_value: int, is_called: bool) -> None:
    pagelib.page_init(page)
    placed = pagelib.add_item(page, _ITEM.pack(last_value, is_called), 1)
    invariant(placed == 1, "sequence item must be item 1")


def read_sequence_page(page: bytes | bytearray) -> tuple[int, bool]:
    return _ITEM.unpack(pagelib.get_item(page, 1))  # type: ignore[return-value]


class SequenceAccess:
    def __init__(self, env: AccessEnv) -> None:
        self.env = env
        self._states: dict[RelFileNode, _State] = {}
        self._lock = threading.Lock()

    def create(self, rnode: RelFileNode, params: SequenceParams) -> None:
        """Write the initial page (the caller created the file; an unlogged sequence's init
        fork gets a copy of it: access/unlogged.py)."""
        self._log(rnode, params.start, False, flush=False)
        if self.env.changes.is_unlogged(rnode):
            copy_to_init_fork(self.env.changes, rnode)

    def _log(self, rnode: RelFileNode, last_value: int, is_called: bool, flush: bool) -> None:
        pool = self.env.pool
        with pool.lock:
            if pool.nblocks(rnode, MAIN_FORKNUM) == 0:
                buffer = pool.extend(rnode, MAIN_FORKNUM)
            else:
                buffer = pool.read_buffer(rnode, MAIN_FORKNUM, 0)
            try:
                page_set_sequence(buffer.page, last_value, is_called)
                end_lsn = self.env.changes.log(
                    RM_MIRRORDB_SEQUENCE_ID, XLOG_SEQ_LOG, b"",
                    [BlockRegistration(0, rnode, MAIN_FORKNUM, 0, buffer.page,
                                       _ITEM.pack(last_value, is_called),
                                       REGBUF_STANDARD | REGBUF_WILL_INIT)], [buffer])
            finally:
                pool.release(buffer)
        if flush and end_lsn != INVALID_LSN:
            self.env.wal.flush(end_lsn)

    def _read_page(self, rnode: RelFileNode) -> tuple[int, bool]:
        """(last_value, is_called) as the sequence's page holds them."""
        pool = self.env.pool
        with pool.lock:
            buffer = pool.read_buffer(rnode, MAIN_FORKNUM, 0)
            try:
                return read_sequence_page(buffer.page)
            finally:
                pool.release(buffer)

    def _state(self, rnode: RelFileNode, params: SequenceParams) -> _State:
        state = self._states.get(rnode)
        if state is None:
            last_value, is_called = self._read_page(rnode)
            if is_called:
                state = _State(last_value, last_value, last_value)
            else:
                state = _State(None, last_value, last_value - params.increment)
            self._states[rnode] = state
        return state

    def nextval(self, rnode: RelFileNode, name: str, params: SequenceParams) -> int:
        with self._lock:
            state = self._state(rnode, params)
            value = self._advance(state, name, params)
            ascending = params.increment > 0
            if (value > state.reserved) if ascending else (value < state.reserved):
                reserve = value + params.increment * (SEQ_LOG_VALS - 1)
                reserve = min(reserve, params.max_value) if ascending else max(
                    reserve, params.min_value)
                self._log(rnode, reserve, True, flush=True)
                state.reserved = reserve
            state.last_handed = value
            return value

    @staticmethod
    def _advance(state: _State, name: str, params: SequenceParams) -> int:
        if state.last_handed is None:
            return state.next_start
        value = state.last_handed + params.increment
        if value > params.max_value or value < params.min_value:
            if not params.cycle:
                bound, which = ((params.max_value, "maximum") if params.increment > 0
                                else (params.min_value, "minimum"))
                raise MirrordbError(
                    f'nextval: reached {which} value of sequence "{name}" ({bound})',
                    sqlstate="2200H")
            value = params.min_value if params.increment > 0 else params.max_value
        return value

    def setval(self, rnode: RelFileNode, params: SequenceParams, value: int,
               is_called: bool = True) -> None:
        with self._lock:
            self._log(rnode, value, is_called, flush=True)
            if is_called:
                self._states[rnode] = _State(value, value, value)
            else:
                self._states[rnode] = _State(None, value, value - params.increment)

    def last_value(self, rnode: RelFileNode, params: SequenceParams) -> tuple[int, bool]:
        """(last_value, is_called) as SELECT * FROM seq shows them. A sequence this server has
        not handed values from is read from its page each time (not cached): on a standby the
        page changes under replay, and shows the value logged ahead, as PostgreSQL's does."""
        with self._lock:
            state = self._states.get(rnode)
        if state is None:
            return self._read_page(rnode)
        if state.last_handed is None:
            return state.next_start, False
        return state.last_handed, True

    def forget(self, rnode: RelFileNode) -> None:
        with self._lock:
            self._states.pop(rnode, None)


def sequence_redo(context: RedoContext, record: DecodedRecord) -> None:
    last_value, is_called = _ITEM.unpack(record.blocks[0].data)
    context.redo_block(record, 0, lambda page: page_set_sequence(page, last_value, is_called),
                       init=True)


register_redo(RM_MIRRORDB_SEQUENCE_ID, sequence_redo)
