"""Records as Arrow columns, straight from the bytes: the fast path of ``parse -f parquet``.

The record reader (``records.RecordReader``) builds one Python ``Record`` per record; on
this machine that caps it near 115 MB/s, and ``re`` matching the header line alone costs
0.51 s per 198 MB (measured, ``benchmarks/bench.py``). A Parquet store needs no Python
objects at all, so this module finds the records of a CloudStack log4j file with NumPy
over the raw bytes and builds every column with Arrow:

* line starts are the positions after each ``\\n``, in blocks of ``BLOCK`` bytes;
* a header line is one the bundled ``log4j`` layout (``patterns/formats.toml``; reference
  §1 and §7) matches. The regex is evaluated as the sequence of byte tests it stands for,
  for all lines of a block at once: fixed offsets for the timestamp, a table for the
  level, and a first-match search in short windows for the ``]``, ``:`` and ``)`` that
  end the logger, thread and NDC;
* field values are spans of the block, cut out by Arrow (string views cast to strings);
* ids: NDCs are parsed once per distinct value (``records._parse_ndc``); ``Seq`` ids and
  VM names come from byte tests equal to ``records._SEQ_FIRST`` / ``find_vms`` on ASCII
  text, and from those functions themselves on records with non-ASCII text; job ids in
  the message from ``records.find_jobs`` on the few records holding ``job-``.
* raw agent-runner lines (ref §1.5), console header lines (``log4j_console``) and lines
  before the first header are built by the record reader's own code and slotted in.

The output equals the record reader's, value for value (``tests/test_columnar.py`` checks
it on messy generated input and on every sample log). Anything else hands the rest of the
file to the reader, from the start of the record in progress: a header of another layout
when the formats could overlap, a ``\\r``, bytes that are not UTF-8, a syslog/journald
prefix, another encoding, a user's format in front of ``log4j``, or a changed ``log4j``
regex. ``--tz`` is converted once per distinct second.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np

from .models import RECORD_COLUMNS, FileStats, Record
from .patterns import Patterns
from .records import (
    _SEQ_FIRST,
    RUNNER_PREFIXES,
    RecordReader,
    TimeShift,
    _NdcCache,
    _no_digit_lead,
    find_jobs,
    find_vms,
)
from .sources import LogFile, PlainReads, counted_chunks, lines_of_chunks, open_chunks, open_plain

#: The header regex this module implements as byte tests (``patterns/formats.toml``,
#: format ``log4j``). If the bundled format ever differs, the fast path switches itself
#: off and every file goes through the record reader; a test says so first.
LOG4J_PATTERN = (
    "^(?P<timestamp>[0-9]{4}-[0-9]{2}-[0-9]{2}[\\ T][0-9]{2}:[0-9]{2}:[0-9]{2}[,.][0-9]{3})(?:\\{GMT\\})?\n"
    "\\ (?P<level>(?:TRACE|DEBUG|INFO|WARN|ERROR|FATAL))\\ +\n"
    "\\[(?P<logger>[^\\]]*)\\]\\ \n"
    "\\((?P<thread>[^:()]*):(?P<ndc>.*?)\\)(?=\\ |$)\n"
    "(?:\\ \\(logid:(?P<logid>[0-9a-f]*)\\))?\n"
    "\\ ?(?P<message>.*)$"
)

#: Bytes parsed at a time. Each NumPy/Arrow call costs microseconds whatever its size,
#: and each block's arrays are held at once. Over the 198 MB bench log (best of 3, peak
#: RSS of the process): 1 MiB 0.92 s / 122 MB, 2 MiB 0.85 s / 143 MB, 4 MiB 0.81 s /
#: 166 MB, 8 MiB 0.84 s / 221 MB (measured).
BLOCK = 2 << 20

#: A record in progress longer than this is handed to the record reader: the fast path
#: rescans the open record with every chunk, which would grow quadratic.
MAX_CARRY = 8 << 20
_LONG_LINE = f"a record of more than {MAX_CARRY} bytes"

_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
# First byte of a level → index in _LEVELS + 1 (0: not a level).
_LEVEL_OF = np.zeros(256, np.int8)
for _i, _lv in enumerate(_LEVELS):
    _LEVEL_OF[ord(_lv[0])] = _i + 1
# Expected 5 bytes after the space, per level index (4-letter levels: the 5th is unchecked).
_LEVEL_BYTES = np.zeros((len(_LEVELS) + 1, 5), np.uint8)
_LEVEL_LEN = np.zeros(len(_LEVELS) + 1, np.int64)
for _i, _lv in enumerate(_LEVELS):
    _LEVEL_BYTES[_i + 1, : len(_lv)] = np.frombuffer(_lv.encode(), np.uint8)
    _LEVEL_LEN[_i + 1] = len(_lv)
_LEVEL_MASK5 = np.zeros((len(_LEVELS) + 1, 5), bool)
for _i, _lv in enumerate(_LEVELS):
    _LEVEL_MASK5[_i + 1, : len(_lv)] = True

# Timestamp: which of the first 23 bytes are digits; the others are fixed.
_TS_DIGITS = np.array([i for i in range(23) if i not in (4, 7, 10, 13, 16, 19)])
_IS_HEX = np.zeros(256, bool)
_IS_HEX[[ord(c) for c in "0123456789abcdef"]] = True
_AR12 = np.arange(12)
_LOGID = np.frombuffer(b" (logid:", np.uint8)
_GMT = np.frombuffer(b"{GMT}", np.uint8)
# Shortest header: 23 (timestamp) + " INFO " + "[] " + "(:)".
_MIN_HEADER = 23 + 6 + 3 + 3
_RUNNER_FIRST = frozenset(p[0] for p in RUNNER_PREFIXES)


class _Handoff(Exception):
    """The chunk holds something only the record reader does exactly right."""


def eligible(reader: RecordReader, encoding: str) -> bool:
    """True when the fast path gives this reader's records exactly."""
    if encoding.replace("_", "-").lower() not in ("utf-8", "utf8"):
        return False
    if reader._needle is not None:
        return False
    if not reader.formats:
        return False
    spec = reader.formats[0].spec
    return (spec.id == "log4j" and spec.regex.pattern == LOG4J_PATTERN
            and spec.regex.flags == re.VERBOSE | re.UNICODE and not spec.level_map)


def _arrow() -> Any:
    import pyarrow as pa

    return pa


def _index_array(idx: np.ndarray) -> Any:
    pa = _arrow()
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(idx), [None, pa.py_buffer(idx)])


def _spans(buf: Any, blk: _Padded, starts: np.ndarray, ends: np.ndarray,
           valid: np.ndarray | None = None) -> Any:
    """A string array of ``buf[starts[i]:ends[i]]`` (null where ``valid`` is False).

    Built as an Arrow string view array over ``buf`` (16 bytes per value: the length, then
    the value itself up to 12 bytes, else its first 4 bytes and its offset), then cast to a
    plain string array in C++.
    """
    pa = _arrow()
    n = len(starts)
    lens = (ends - starts).astype(np.int32)
    if valid is not None:
        lens = np.where(valid, lens, 0).astype(np.int32)
    views = np.empty((n, 4), np.int32)
    views[:, 0] = lens
    if n and lens.min() > 12:  # message, text: every value is out of line
        views[:, 1] = blk.window(4)[starts].view(np.int32).ravel()
        views[:, 2] = 0
        views[:, 3] = starts
    else:
        g = blk.window(12)[starts]
        g *= lens[:, None] > _AR12
        views.view(np.uint8)[:, 4:16] = g
        long = lens > 12
        if long.any():
            views[:, 2] = np.where(long, 0, views[:, 2])
            views[:, 3] = np.where(long, starts, views[:, 3])
    bufs = [None, pa.py_buffer(views), buf]
    if valid is not None and not valid.all():
        bufs[0] = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.string_view(), n, bufs).cast(pa.string())


def _const(value: str, n: int) -> Any:
    """A string array of ``n`` times ``value``."""
    pa = _arrow()
    raw = value.encode("utf-8")
    offsets = np.arange(0, len(raw) * (n + 1), len(raw), dtype=np.int32) if raw else np.zeros(n + 1, np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw * n)])


#: Zero bytes after a block: byte tests may read a little past the last line.
_PAD = 64
_ZEROS = bytes(_PAD)


def _newlines(body: bytearray, cut: int) -> np.ndarray:
    """Offsets of the ``\\n`` bytes in ``body[:cut]`` (NumPy: twice ``bytes.count``'s speed)."""
    return np.flatnonzero(np.frombuffer(body, np.uint8, count=cut) == 10)


def _is_rbracket(w: np.ndarray) -> np.ndarray:
    return w == 93


def _is_colon_or_paren(w: np.ndarray) -> np.ndarray:
    return (w == 58) | ((w | 1) == 41)  # : ( )


def _is_closer(w: np.ndarray) -> np.ndarray:
    nxt = w[:, 1:]
    return (w[:, :-1] == 41) & ((nxt == 32) | (nxt == 10))  # `)` then a space or the line end


class _Padded:
    """Bytes as a NumPy array with zero padding after them, and strided windows on them."""

    a: np.ndarray
    rows: int

    def window(self, width: int) -> np.ndarray:
        """Row ``i`` = the ``width`` bytes from offset ``i`` (a strided view, no copy)."""
        return np.lib.stride_tricks.as_strided(self.a, shape=(self.rows - width + 1, width), strides=(1, 1))


class _Escaped(_Padded):
    """A block as JSON string contents (``json.encoder.encode_basestring`` without the
    quotes): every field span of the block maps to a span of this."""

    def __init__(self, body: bytearray, a: np.ndarray):
        raw = bytes(body[: len(a)])
        esc = (a < 32) | (a == 34) | (a == 92)
        self.at = np.flatnonzero(esc)
        if len(self.at):
            vals = a[self.at]
            extra = _EXTRA[vals]
            self.cum = np.zeros(len(self.at) + 1, np.int64)
            np.cumsum(extra, out=self.cum[1:])
            raw = raw.replace(b"\\", b"\\\\")  # first: later escapes add backslashes
            for v in np.flatnonzero(np.bincount(vals, minlength=256)).tolist():  # the bytes present
                if v == 92:
                    continue
                raw = raw.replace(bytes([v]), _ESCAPE_OF[v])
        self.data = raw + bytes(_PAD)
        self.a = np.frombuffer(self.data, np.uint8)
        self.rows = len(self.a)

    def moved(self, p: np.ndarray) -> np.ndarray:
        """Where offsets ``p`` of the block are in the escaped bytes."""
        if not len(self.at):
            return p
        return p + self.cum[np.searchsorted(self.at, p)]

    def mover(self, starts: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """``moved`` for offsets of rows that start at ``starts``: one offset per row, at or
        after its start. Most header fields have no escape between the line start and
        themselves, so they move by the row's count; only the others are searched (a
        search per field and row took 0.18 s per 198 MB, measured)."""
        if not len(self.at):
            return lambda p: p
        i = np.searchsorted(self.at, starts)
        base = self.cum[i]
        first = np.append(self.at, np.iinfo(np.int64).max)[i]  # the row's first escape

        def moved(p: np.ndarray) -> np.ndarray:
            out = p + base
            far = np.flatnonzero(p > first)
            if len(far):
                out[far] = self.moved(p[far])
            return out

        return moved


# Bytes an escape adds: `\"`, `\\`, `\n` … one; `\u00XX` five.
_EXTRA = np.full(256, 5, np.int64)
_EXTRA[[8, 9, 10, 12, 13, 34, 92]] = 1
_ESCAPE_OF = {v: json.encoder.encode_basestring(chr(v))[1:-1].encode() for v in [*range(32), 34, 92]}  # type: ignore[attr-defined]


class _Block(_Padded):
    """Header lines of one chunk of bytes (ending with ``\\n``) and their field spans."""

    ascii = True

    def __init__(self, body: bytearray, cut: int, ends: np.ndarray | None = None):
        self.size = cut
        a = np.frombuffer(body, np.uint8)
        self.a = a
        self.rows = len(a)
        nl = _newlines(body, cut) if ends is None else ends
        self.le = nl
        ls = np.empty(len(nl), np.int64)
        if len(nl):
            ls[0] = 0
            ls[1:] = nl[:-1] + 1
        self.ls = ls
        self._headers()

    def first_in_line(self, starts: np.ndarray, limits: np.ndarray, width: int, pred: Any,
                      extra: int = 0) -> np.ndarray:
        """For each row, the first offset in ``[starts, limits)`` where ``pred`` holds on the
        bytes (``pred`` sees ``width + extra`` columns and answers for the first ``width``),
        else the limit. Looks ``width`` bytes at a time: most fields are short."""
        out = limits.copy()
        todo = np.arange(len(starts))
        off = starts.copy()
        top = self.size
        while len(todo):
            o = np.minimum(off[todo], top)
            m = pred(self.window(width + extra)[o])
            hit = m.any(axis=1)
            pos = o + m.argmax(axis=1)
            done = hit | (o + width >= limits[todo])
            found = np.minimum(np.where(hit, pos, limits[todo]), limits[todo])
            out[todo[done]] = found[done]
            todo = todo[~done]
            off[todo] += width
        return out

    def _headers(self) -> None:
        a, ls, le = self.a, self.ls, self.le
        idx = np.flatnonzero((le - ls) >= _MIN_HEADER)
        s = ls[idx]
        ts = self.window(23)[s]
        ok = ((ts[:, _TS_DIGITS] - 48) < 10).all(axis=1)
        ok &= (ts[:, 4] == 45) & (ts[:, 7] == 45) & (ts[:, 13] == 58) & (ts[:, 16] == 58)
        ok &= (ts[:, 10] == 32) | (ts[:, 10] == 84)
        ok &= (ts[:, 19] == 44) | (ts[:, 19] == 46)
        idx, s = idx[ok], s[ok]
        q = s + 23
        gmt = a[q] == 123
        if gmt.any():
            gmt &= (self.window(5)[q] == _GMT).all(axis=1)
            q = q + 5 * gmt
        code = _LEVEL_OF[a[q + 1]]
        win = self.window(5)[q + 1]
        ok = (a[q] == 32) & (code > 0)
        ok &= ((win == _LEVEL_BYTES[code]) | ~_LEVEL_MASK5[code]).all(axis=1)
        p = q + 1 + _LEVEL_LEN[code]
        ok &= a[p] == 32
        idx, p, code = idx[ok], p[ok], code[ok]
        p = p + 1
        more = np.flatnonzero(a[p] == 32)  # `\ +`: the rest of the padding
        while len(more):
            p[more] += 1
            more = more[a[p[more]] == 32]
        ok = a[p] == 91  # [
        idx, p, code = idx[ok], p[ok], code[ok]
        le_h = le[idx]
        # Logger: up to the first `]` (before the line end), then "] (".
        lb = self.first_in_line(p + 1, le_h, 48, _is_rbracket)
        ok = (lb < le_h) & (a[lb + 1] == 32) & (a[lb + 2] == 40)
        idx, p, code, lb, le_h = idx[ok], p[ok], code[ok], lb[ok], le_h[ok]
        # Thread: `[^:()]*` then `:`.
        c = self.first_in_line(lb + 3, le_h, 32, _is_colon_or_paren)
        ok = (c < le_h) & (a[c] == 58)
        idx, p, code, lb, le_h, c = idx[ok], p[ok], code[ok], lb[ok], le_h[ok], c[ok]
        # NDC: lazy, up to the first `)` followed by a space or the line end.
        j = self.first_in_line(c + 1, le_h, 32, _is_closer, extra=1)
        ok = j < le_h
        idx, p, code, lb, le_h, c, j = idx[ok], p[ok], code[ok], lb[ok], le_h[ok], c[ok], j[ok]
        # `(?:\ \(logid:([0-9a-f]*)\))?` then `\ ?`.
        has = (j + 9 <= le_h) & (self.window(8)[j + 1] == _LOGID).all(axis=1)
        h = j + 9
        run = np.flatnonzero(has & _IS_HEX[a[h]])
        while len(run):
            h[run] += 1
            run = run[_IS_HEX[a[h[run]]]]
        has &= a[h] == 41
        m0 = np.where(has, h + 1, j + 1)
        m0 = m0 + ((m0 < le_h) & (a[m0] == 32))
        self.hdr = idx
        self.ts_start = ls[idx]
        self.code = code
        self.logger = (p + 1, lb)
        self.thread = (lb + 3, c)
        self.ndc = (c + 1, j)
        self.logid = (j + 9, h, has)
        self.message = (m0, le_h)


def _specials(body: bytes, blk: _Block, reader: RecordReader, exclusive: bool) -> dict[int, Any]:
    """Lines that are not log4j headers and do not start with a tab or a space: the record
    reader tries its other formats and the runner prefixes on them; so does this.

    Returns ``{line index: (format, match)}`` for another layout's header line and
    ``{line index: None}`` for a raw agent-runner line (ref §1.5).

    :raises _Handoff: such a line, when the formats are not ``exclusive`` (then which one
        matches could depend on the record reader's most-recently-used order), or a line
        the log4j regex matches after all (a guard: the byte tests missed it).
    """
    a, ls, le = blk.a, blk.ls, blk.le
    is_hdr = np.zeros(len(ls), bool)
    is_hdr[blk.hdr] = True
    first = a[np.minimum(ls, len(a) - 1)]
    odd = np.flatnonzero(~is_hdr & (le > ls) & (first != 9) & (first != 32))
    out: dict[int, Any] = {}
    if not len(odd):
        return out
    log4j, *others = reader.formats
    for i in odd.tolist():
        line = body[ls[i]:le[i]].decode("utf-8")
        if log4j.match(line) is not None:
            raise _Handoff(f"line {i + 1} of the chunk: a log4j header the byte tests missed")
        for cf in others:
            m = cf.match(line)
            if m is not None:
                if not exclusive:
                    raise _Handoff(f"line {i + 1} of the chunk: a {cf.spec.id} header")
                out[i] = (cf, m)
                break
        else:
            if line[:1] in _RUNNER_FIRST and line.startswith(RUNNER_PREFIXES):
                if not exclusive:
                    raise _Handoff(f"line {i + 1} of the chunk: an agent-runner line")
                out[i] = None
    return out


def _find_dense(a: np.ndarray, lit: bytes, anchor: int = 0) -> np.ndarray:
    """Positions of ``lit`` in ``a``: one NumPy pass for the byte ``lit[anchor]`` (pick a
    rare one: the list of its positions is the cost), then a test per other byte."""
    p = np.flatnonzero(a[anchor: len(a) - len(lit) + 1 + anchor] == lit[anchor])
    for i in range(len(lit)):
        if i != anchor:
            p = p[a[p + i] == lit[i]]
    return p


def _unique(x: np.ndarray) -> np.ndarray:
    """The sorted distinct values of ``x`` (``np.unique`` without indices imports numpy.ma on
    its first call in NumPy 2: 6.5 ms of every run)."""
    x = np.sort(x)
    if len(x) < 2:
        return x
    keep = np.empty(len(x), bool)
    keep[0] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def _rows_with(pos: np.ndarray, n: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The rows whose span ``[starts, ends)`` (sorted, disjoint) holds a literal of ``n``
    bytes found at ``pos``."""
    if not len(pos) or not len(starts):
        return np.zeros(0, np.int64)
    row = np.searchsorted(starts, pos, side="right") - 1
    ok = row >= 0
    row, pos = row[ok], pos[ok]
    return _unique(row[pos + n <= ends[row]])


_DIGIT = np.zeros(256, bool)
_DIGIT[48:58] = True
_ALNUM = _DIGIT.copy()
_ALNUM[65:91] = True
_ALNUM[97:123] = True


def _advance(a: np.ndarray, x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Move each position in ``x`` past the run of bytes ``table`` accepts."""
    x = x.copy()
    act = np.flatnonzero(table[a[x]])
    while len(act):
        x[act] += 1
        act = act[table[a[x[act]]]]
    return x


def _seqs(a: np.ndarray, m0: np.ndarray, me: np.ndarray,
          non_ascii: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``_SEQ_FIRST`` (``Seq(?<![^\\W_]Seq)A? (\\d+--?\\d+):``) in each message ``[m0, me)``.

    For ASCII text the regex is these byte tests: no letter or digit before ``Seq`` (in
    the message), an optional ``A``, a space, digits, ``-``, an optional ``-``, digits, ``:``.
    Returns the group spans (start, end, found) per message and the rows whose message
    holds a ``Seq`` and a non-ASCII byte (Unicode letters and digits): ``re`` decides those.
    """
    k = len(m0)
    s0 = np.zeros(k, np.int64)
    s1 = np.zeros(k, np.int64)
    found = np.zeros(k, bool)
    P = _find_dense(a, b"Seq", 2)  # q
    row = np.searchsorted(m0, P, side="right") - 1
    keep = row >= 0
    P, row = P[keep], row[keep]
    keep = me[row] > P
    P, row = P[keep], row[keep]
    unsure = np.zeros(0, np.int64)
    if non_ascii is not None and len(non_ascii) and len(P):
        bad = _rows_with(non_ascii, 1, m0, me)
        unsure = np.intersect1d(bad, row)
        keep = ~np.isin(row, unsure)
        P, row = P[keep], row[keep]
    ok = (m0[row] == P) | ~_ALNUM[a[P - 1]]
    P, row = P[ok], row[ok]
    j = P + 3
    j += a[j] == 65  # A
    ok = a[j] == 32
    row, j = row[ok], j[ok] + 1
    ok = _DIGIT[a[j]]
    row, g0 = row[ok], j[ok]
    x = _advance(a, g0, _DIGIT)
    ok = a[x] == 45
    row, g0, x = row[ok], g0[ok], x[ok] + 1
    x += a[x] == 45
    ok = _DIGIT[a[x]]
    row, g0, x = row[ok], g0[ok], x[ok]
    x = _advance(a, x, _DIGIT)
    ok = a[x] == 58
    row, g0, x = row[ok], g0[ok], x[ok]
    # The first match of each message (candidates are in text order).
    rows, first = np.unique(row, return_index=True)
    s0[rows] = g0[first]
    s1[rows] = x[first]
    found[rows] = True
    return s0, s1, found, unsure


_WORD = _ALNUM.copy()
_WORD[95] = True  # _
_RSV = np.zeros(256, bool)
_RSV[[ord("r"), ord("s"), ord("v")]] = True
#: Longest instance name decided by byte tests; a longer one goes to ``find_vms``.
_VM_NAME_MAX = 16


def _back(a: np.ndarray, x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Move each position in ``x`` back over the run of bytes ``table`` accepts (the byte
    before a text is a ``\\n`` or padding, so no run crosses into another record)."""
    x = x.copy()
    act = np.flatnonzero(table[a[x]])
    while len(act):
        x[act] -= 1
        act = act[table[a[x[act]]]]
    return x


def _vms(blk: _Block, buf: Any, t0: np.ndarray, t1: np.ndarray,
         non_ascii: np.ndarray | None) -> tuple[Any, np.ndarray]:
    """``find_vms`` for each text ``[t0, t1)``: instance names (``i-N-N-VM``, ``r-/s-/v-N-VM``
    with a word boundary on each side, ``records.VM_RE``), first-seen order, no duplicates.

    For ASCII text the regex is byte tests around each ``-VM``. Returns the list array and
    the rows ``find_vms`` must decide (non-ASCII text: Unicode digits and word characters;
    a name longer than 16 bytes).
    """
    pa = _arrow()
    a = blk.a
    k = len(t0)
    P = _find_dense(a, b"-VM", 1)  # V: dates are full of `-`
    row = np.searchsorted(t0, P, side="right") - 1
    keep = row >= 0
    P, row = P[keep], row[keep]
    keep = t1[row] >= P + 3
    P, row = P[keep], row[keep]
    unsure = np.zeros(0, np.int64)
    if non_ascii is not None and len(non_ascii) and len(P):
        unsure = np.intersect1d(_rows_with(non_ascii, 1, t0, t1), row)
        keep = ~np.isin(row, unsure)
        P, row = P[keep], row[keep]
    keep = ~_WORD[a[P + 3]]  # \b after `-VM`
    P, row = P[keep], row[keep]
    x2 = _back(a, P - 1, _DIGIT)  # before the last number
    keep = (x2 < P - 1) & (a[x2] == 45)
    P, row, x2 = P[keep], row[keep], x2[keep]
    # i-N-N: digits, `-`, `i`, a boundary before the `i`.
    y = _back(a, x2 - 1, _DIGIT)
    form_i = (y < x2 - 1) & (a[y] == 45) & (a[y - 1] == 105) & ~_WORD[a[y - 2]]
    # r-/s-/v-N, tried when the first form fails.
    form_r = ~form_i & _RSV[a[x2 - 1]] & ~_WORD[a[x2 - 2]]
    start = np.where(form_i, y - 1, x2 - 1)
    keep = form_i | form_r
    start, row, end = start[keep], row[keep], P[keep] + 3
    long = end - start > _VM_NAME_MAX
    if long.any():
        unsure = _unique(np.concatenate((unsure, row[long])))
        keep = ~np.isin(row, unsure)
        start, row, end = start[keep], row[keep], end[keep]
    # Duplicates within a text: keep the first of each (row, name).
    if len(start):
        key = np.zeros((len(start), 8 + _VM_NAME_MAX), np.uint8)
        key[:, :8] = row.astype(">i8").view(np.uint8).reshape(-1, 8)
        names = blk.window(_VM_NAME_MAX)[start]
        names *= np.arange(_VM_NAME_MAX) < (end - start)[:, None]
        key[:, 8:] = names
        _, first = np.unique(key.view(f"V{8 + _VM_NAME_MAX}").ravel(), return_index=True)
        first.sort()
        start, row, end = start[first], row[first], end[first]
    offsets = np.zeros(k + 1, np.int32)
    np.cumsum(np.bincount(row, minlength=k), out=offsets[1:])
    child = _spans(buf, blk, start, end)
    off = pa.Array.from_buffers(pa.int32(), k + 1, [None, pa.py_buffer(offsets)])
    return pa.ListArray.from_arrays(off, child), unsure


class ColumnarReader:
    """Arrow record batches of one file (or byte range), equal to ``RecordReader``'s records."""

    def __init__(self, lf: LogFile, patterns: Patterns, stats: FileStats, *, first_line: int = 1,
                 timeshift: TimeShift | None = None, encoding: str = "utf-8", json: bool = False):
        self.lf = lf
        self.patterns = patterns
        self.stats = stats
        self.first_line = first_line
        self.encoding = encoding
        #: batches of (timestamp, level, json): each record as its ``-f jsonl`` line
        self.json = json
        self.convert_ts = timeshift.for_host(lf.host) if timeshift else None
        self.reader = RecordReader(lf, patterns, stats, first_line=first_line, convert_ts=self.convert_ts)
        self.fast = eligible(self.reader, encoding)
        # Every other format cannot match a line that starts with a digit (as log4j's do),
        # and there is at most one: which format matches a line is then the same in any
        # order, so the record reader's most-recently-used order needs no imitation.
        others = self.reader.formats[1:]
        self.exclusive = len(others) <= 1 and all(_no_digit_lead(cf.spec.regex) for cf in others)
        self._ndc = _NdcCache()
        self._level_names: Any = None
        self._buf: bytearray | None = None
        self.year: int | None = None
        #: records the fast path built / the record reader built after a handoff
        self.fast_records = 0
        #: why the record reader took over, if it did
        self.handoff: str | None = None if self.fast else "not eligible"
        self.slow_records = 0

    def iter_batches(self, chunks: Iterable[bytes] | PlainReads) -> Iterator[Any]:
        """Record batches (``RECORD_COLUMNS``) of the decompressed byte ``chunks`` (or of a
        plain file, read into the block buffer)."""
        if not self.fast:
            yield from self._slow(chunks, b"", self.first_line)
            return
        stats = self.stats
        carry = b""
        carry_lines = 0  # `\n`s in `carry`
        line_no = self.first_line
        started = False
        if not isinstance(chunks, PlainReads):
            chunks = iter(chunks)  # the record reader goes on from where this stops
        while True:
            # One buffer per block: the open record carried over, the chunk, zero padding.
            data, size = self._next_block(carry, chunks)
            if size == len(carry):  # the end
                break
            stats.bytes_read += size - len(carry)
            nl = data.rfind(b"\n", len(carry), size)
            if nl < 0:
                carry = bytes(data[:size])
                if len(carry) > MAX_CARRY:
                    yield from self._slow(chunks, carry, line_no, _LONG_LINE)
                    return
                continue
            cut = nl + 1
            # Lines are counted as they are read, as the record reader's splitter does: a
            # warning about a damaged stream names the lines read before the damage.
            ends = _newlines(data, cut)
            stats.lines += len(ends) - carry_lines
            try:
                at_start = not started
                if at_start:
                    started = True
                    self._sniff(data)
                used, lines, out = self._block(data, cut, size, line_no, False, at_start, ends)
            except _Handoff as e:
                yield from self._slow(chunks, bytes(data[:size]), line_no, str(e))
                return
            yield from out
            carry = bytes(data[used:size])
            carry_lines = len(ends) - lines
            del ends
            line_no += lines
            if len(carry) > MAX_CARRY:
                yield from self._slow(chunks, carry, line_no, _LONG_LINE)
                return
        if not carry:
            return
        partial = not carry.endswith(b"\n")  # a last line without its `\n`
        body = carry + b"\n" if partial else carry
        data = bytearray(body)
        data += bytes(_PAD)
        try:
            if not started:
                self._sniff(data)
            used, lines, out = self._block(data, len(body), len(body), line_no, True, not started)
        except _Handoff as e:
            yield from self._slow(chunks, carry, line_no, str(e))
            return
        stats.lines += partial
        yield from out

    def _next_block(self, carry: bytes, chunks: Iterator[bytes] | PlainReads) -> tuple[bytearray, int]:
        """The block buffer holding ``carry``, then the next chunk, then ``_PAD`` zero bytes,
        and the size of the first two; ``len(carry)`` at the end of the input."""
        if isinstance(chunks, PlainReads):
            data = self._buffer(len(carry) + chunks.chunk + _PAD)
            data[:len(carry)] = carry
            with memoryview(data) as view:
                n = chunks.readinto(view[len(carry):len(carry) + chunks.chunk])
            size = len(carry) + n
            del data[size + _PAD:]
        else:
            chunk = next(chunks, b"")
            size = len(carry) + len(chunk)
            data = self._buffer(size + _PAD)
            data[:len(carry)] = carry
            data[len(carry):size] = chunk
        data[size:size + _PAD] = _ZEROS
        return data, size

    def _buffer(self, need: int) -> bytearray:
        """A buffer of ``need`` bytes: the last block's when nothing holds it any more (the
        batches are copies). A new 2 MiB buffer per block cost its page faults, 50 ms on a
        198 MB log (measured)."""
        data = self._buf
        if data is not None:
            try:
                # A resize fails while anything still exports the buffer (a NumPy or Arrow
                # view): the +1 makes sure there is a resize to fail.
                data.append(0)
                if len(data) < need:
                    data.extend(bytes(need - len(data)))
                else:
                    del data[need:]
            except BufferError:
                data = None
        if data is None:
            data = self._buf = bytearray(need)
        return data

    def _sniff(self, data: bytearray) -> None:
        """A syslog/journald prefix on the first non-empty line: the reader strips it."""
        if not self.reader.prefixes:
            return
        for raw in bytes(data[:1 << 16]).split(b"\n", 64)[:64]:
            if raw:
                line = raw.decode("utf-8", "replace")
                if any(cf.match(line) for cf in self.reader.prefixes):
                    raise _Handoff("a syslog/journald prefix")
                return
        raise _Handoff("64 empty lines first")

    def _slow(self, chunks: Iterable[bytes], head: bytes, line_no: int, why: str | None = None) -> Iterator[Any]:
        """The record reader over ``head`` and the rest of ``chunks``, from line ``line_no``
        (``why``: the handoff's reason, kept in ``handoff``)."""
        if why is not None:
            self.handoff = f"{why} (line {line_no} on)"
        self.stats.lines -= head.count(b"\n")  # counted when read; the reader counts them again
        reader = RecordReader(self.lf, self.patterns, self.stats, first_line=line_no,
                              convert_ts=self.convert_ts, year_hint=self.year)
        rest = counted_chunks(chunks, self.stats)
        lines = lines_of_chunks(chain((head,), rest) if head else rest, self.lf.source, self.stats, self.encoding)
        for batch in self._to_batches(chain.from_iterable(reader.iter_record_lists(lines))):
            self.slow_records += batch.num_rows
            yield batch

    # -- one chunk -----------------------------------------------------------------------
    def _block(self, body: bytearray, cut: int, size: int, line_no: int, final: bool,
               at_start: bool, ends: np.ndarray | None = None) -> tuple[int, int, list[Any]]:
        """Records of ``body[:cut]`` (whole lines; ``body`` holds ``size`` bytes of data,
        then zero padding); return (bytes used, lines used, record batches).

        Unless ``final``, the last record stays open: its bytes are left for the next chunk.
        ``at_start``: ``body`` starts the file (or byte range); lines before its first
        header are orphans there, and cannot occur anywhere else.
        """
        if body.find(b"\r", 0, cut) >= 0:
            raise _Handoff("a carriage return")
        ascii_only = body.isascii()
        if not ascii_only:
            try:
                str(memoryview(body)[:cut], "utf-8")
            except UnicodeDecodeError:
                raise _Handoff("bytes that are not UTF-8") from None
        blk = _Block(body, cut, ends)
        blk.ascii = ascii_only
        hdr = blk.hdr
        nlines = len(blk.ls)
        specials = _specials(body, blk, self.reader, self.exclusive)
        breaks = _unique(np.concatenate((hdr, np.fromiter(specials, np.int64, len(specials))))) if specials else hdr
        head = int(breaks[0]) if len(breaks) else nlines
        if head and not at_start:
            raise _Handoff("lines before the first header")  # never: a chunk starts at a record
        kb = len(breaks) if final else max(len(breaks) - 1, 0)
        last_line = nlines if final else (int(breaks[kb]) if len(breaks) else 0)
        if not last_line:
            return 0, 0, []
        # The log4j records among the complete ones, and the line after each.
        k = int(np.searchsorted(hdr, last_line))
        nxt_i = np.searchsorted(breaks, hdr[:k], side="right")
        nxt = np.full(k, last_line, np.int64)
        inside = nxt_i < kb
        nxt[inside] = breaks[nxt_i[inside]]
        st = self.stats
        lines = blk.ls
        special_recs: list[Record] = []
        orphans = 0
        records = k
        reader = self.reader

        def text_lines(i: int, j: int) -> list[str]:
            return body[int(lines[i]):int(blk.le[j - 1])].decode("utf-8").split("\n")

        if head:
            special_recs.append(reader._orphan(text_lines(0, head), line_no))
            orphans += head
            if st.first_orphan is None:
                st.first_orphan = line_no
        if specials:
            reader.year = self.year
            bl = breaks.tolist()
            for j in range(kb):
                i = bl[j]
                if i not in specials:
                    continue
                end = bl[j + 1] if j + 1 < len(bl) else nlines
                sp = specials[i]
                if sp is None:  # a runner line; the lines after it up to the next break are orphans
                    special_recs.append(reader._orphan(text_lines(i, i + 1), line_no + i))
                    if st.first_orphan is None:
                        st.first_orphan = line_no + i
                    orphans += end - i
                    if end - i > 1:
                        special_recs.append(reader._orphan(text_lines(i + 1, end), line_no + i + 1))
                else:
                    cf, m = sp
                    special_recs.append(reader._build((cf, m, None), text_lines(i, end), line_no + i,
                                                      line_no + end - 1))
                    records += 1
            if self.year is None:
                self.year = reader.year
        st.records += records
        st.orphans += orphans
        st.continuation += last_line - records - orphans
        used = int(lines[last_line]) if last_line < nlines else cut
        batch = self._columns(body, blk, k, nxt, line_no) if k else None
        self.fast_records += k
        if not special_recs:
            return used, last_line, [batch] if batch is not None else []
        # Records of other kinds go between the log4j records, in line order: the batch is
        # cut around them (slices, no copy).
        self.slow_records += len(special_recs)
        special_recs.sort(key=attrgetter("line"))
        cuts = np.searchsorted(hdr[:k] + line_no, [r.line for r in special_recs]).tolist() if k else []
        out: list[Any] = []
        prev = 0
        for i, rec in enumerate(special_recs):
            at = cuts[i] if k else 0
            if batch is not None and at > prev:
                out.append(batch.slice(prev, at - prev))
                prev = at
            out.extend(self._to_batches([rec], 1))
        if batch is not None and prev < k:
            out.append(batch.slice(prev))
        return used, last_line, out

    def _columns(self, body: bytes, blk: _Block, k: int, nxt: np.ndarray, line_no: int) -> Any:
        pa = _arrow()
        import pyarrow.compute as pc

        from .output import record_arrow_schema

        a = blk.a
        buf = pa.py_buffer(body)
        hdr = blk.hdr[:k]
        line = hdr + line_no
        end_line = nxt + (line_no - 1)
        # Timestamp: the 23 bytes, ` `→`T`, `,`→`.` (ISO, as the reader writes it).
        tsb = blk.window(23)[blk.ts_start[:k]]
        tsb[:, 10] = 84
        tsb[:, 19] = 46
        if self.year is None:
            self.year = int(tsb[0, :4].tobytes())
        if self.convert_ts is not None:
            timestamp = self._to_utc(tsb)
        else:
            timestamp = pa.Array.from_buffers(pa.string(), k, [
                None, pa.py_buffer(np.arange(0, 23 * (k + 1), 23, dtype=np.int32)), pa.py_buffer(tsb)])
        level = self._levels().take(_index_array(blk.code[:k] - 1))

        def span(f: tuple[np.ndarray, ...]) -> Any:
            return _spans(buf, blk, f[0][:k], f[1][:k], f[2][:k] if len(f) > 2 else None)

        ndc_raw = span(blk.ndc)
        # The plain text columns (not needed for JSON lines: those are cut from escaped bytes).
        logger = thread = logid = message = text = None
        if not self.json:
            logger, thread, logid, message = span(blk.logger), span(blk.thread), span(blk.logid), span(blk.message)

        def strings(rows: np.ndarray, start: np.ndarray, end: np.ndarray) -> list[str]:
            """The values of a few rows, as Python strings."""
            return [body[i:j].decode("utf-8") for i, j in zip(start[rows].tolist(), end[rows].tolist(), strict=True)]

        # Text: from the header line to the last line of the record, without its `\n`.
        t0, t1 = blk.ls[hdr], blk.le[nxt - 1]
        if not self.json:
            text = _spans(buf, blk, t0, t1)
        # NDC → (ndc, ctx, jobs), parsed once per distinct value.
        enc = pc.dictionary_encode(ndc_raw)
        distinct = enc.dictionary.to_pylist()
        parsed = [self._ndc[v] for v in distinct]
        from .output import _arrow_column

        codes = enc.indices
        ndc = _arrow_column([p[0] for p in parsed], pa.string()).take(codes)
        ctx = _arrow_column([p[1] for p in parsed], pa.list_(pa.string())).take(codes)
        jobs_ndc = [p[2] for p in parsed]
        jobs = _arrow_column(jobs_ndc, pa.list_(pa.int64())).take(codes)
        # Job ids in the message (`job-N`, `AsyncJobVO {id:N`), on the records holding them.
        m0, me = blk.message[0][:k], blk.message[1][:k]
        hits = _unique(np.concatenate((_rows_with(_find_dense(a, b"job-"), 4, m0, me),
                                       _rows_with(_find_dense(a, b"AsyncJobVO", 5), 10, m0, me))))
        found: list[tuple[int, ...]] = []
        if len(hits):
            msgs = strings(hits, blk.message[0], blk.message[1])
            base = _int_values(codes)[hits]
            found = [tuple(find_jobs(m, list(jobs_ndc[b]))) for m, b in zip(msgs, base, strict=True)]
            jobs = _patch(jobs, hits, _arrow_column(found, pa.list_(pa.int64())))
        # Seq ids: byte tests on ASCII messages, `_SEQ_FIRST` itself on the others.
        s0, s1, has_seq, unsure = _seqs(a, m0, me, None if blk.ascii else np.flatnonzero(a >= 128))
        seq = _spans(buf, blk, s0, s1, has_seq)
        if len(unsure):
            search = _SEQ_FIRST.search
            found_seq = [None if (m := search(x)) is None else m[1]
                         for x in strings(unsure, blk.message[0], blk.message[1])]
            seq = _patch(seq, unsure, _arrow_column(found_seq, pa.string()))
        # VM names in the whole text.
        vms, vm_unsure = _vms(blk, buf, t0, t1, None if blk.ascii else np.flatnonzero(a >= 128))
        if len(vm_unsure):
            found_vms = list(map(find_vms, strings(vm_unsure, t0, t1)))
            vms = _patch(vms, vm_unsure, _arrow_column(found_vms, pa.list_(pa.string())))
        if self.json:
            return self._json_batch(body, blk, k, line, end_line, timestamp, level, parsed, codes, (hits, found),
                                    (s0, s1, has_seq, unsure, seq), vms, (t0, t1))
        lf = self.lf
        cols = {
            "source": _const(lf.source, k), "host": _const(lf.host, k),
            "role": _const(lf.role, k), "line": _index_array(line), "end_line": _index_array(end_line),
            "timestamp": timestamp, "level": level, "logger": logger, "thread": thread, "ndc": ndc,
            "ctx": ctx, "jobs": jobs, "logid": logid, "seq": seq, "vms": vms, "message": message,
            "text": text, "kind": _const("record", k),
        }
        return pa.RecordBatch.from_arrays([cols[c] for c in RECORD_COLUMNS], schema=record_arrow_schema())

    def _json_batch(self, body: bytearray, blk: _Block, k: int, line: np.ndarray, end_line: np.ndarray,
                    timestamp: Any, level: Any, parsed: list[Any], codes: Any, jobs: Any,
                    seq: tuple[Any, ...], vms: Any, text_span: tuple[np.ndarray, np.ndarray]) -> Any:
        """A batch of ``timestamp``, ``level`` and ``json``: each record as the line
        ``output.record_json`` writes (with its ``\\n``), built column-wise by Arrow.

        Every string field is a span of the block, so the block is escaped once
        (``_Escaped``) and the fields are cut from the escaped bytes.
        """
        pa = _arrow()
        import pyarrow.compute as pc

        from .output import _arrow_column, _enc, _jints, _jstrs

        esc = _Escaped(body, blk.a[:blk.size])
        ebuf = pa.py_buffer(esc.data)
        mv = esc.mover(blk.ls[blk.hdr[:k]])

        def espan(start: np.ndarray, end: np.ndarray, valid: np.ndarray | None = None) -> Any:
            return _spans(ebuf, esc, mv(start[:k]), mv(end[:k]), None if valid is None else valid[:k])

        def c(text: str) -> Any:
            return _const(text, k)

        quote, empty = c('"'), c("")

        def nullable(x: Any) -> Any:  # null stays null: the final join writes `null` for it
            return pc.binary_join_element_wise(quote, x, quote, empty)

        code_np = _int_values(codes)
        ndc_ok = np.array([p[0] is not None for p in parsed], bool)[code_np]
        ndc = nullable(espan(blk.ndc[0], blk.ndc[1], ndc_ok))
        ctx = _arrow_column([_jstrs(p[1]) for p in parsed], pa.string()).take(codes)
        jobs_json = _arrow_column([_jints(p[2]) for p in parsed], pa.string()).take(codes)
        hits, found = jobs
        if len(hits):
            jobs_json = _patch(jobs_json, hits, _arrow_column(list(map(_jints, found)), pa.string()))
        logid = nullable(espan(blk.logid[0], blk.logid[1], blk.logid[2]))
        s0, s1, has_seq, unsure, seq_arr = seq
        seq_json = nullable(_spans(ebuf, esc, mv(s0), mv(s1), has_seq))
        if len(unsure):
            vals = seq_arr.take(_index_array(unsure)).to_pylist()
            seq_json = _patch(seq_json, unsure, _arrow_column([None if v is None else _enc(v) for v in vals],
                                                             pa.string()))
        lens = np.diff(_int_values(vms.offsets))
        vm_rows = np.flatnonzero(lens)
        vms_json = c("[]")
        if len(vm_rows):
            vms_json = _patch(vms_json, vm_rows, _arrow_column(
                [_jstrs(v) for v in vms.take(_index_array(vm_rows)).to_pylist()], pa.string()))
        lf = self.lf
        head = (f'{{"source": {_enc(lf.source)}, "host": {_enc(lf.host)}, "role": {_enc(lf.role)}, '
                f'"line": ')
        pieces = [
            c(head), pc.cast(_index_array(line), pa.string()), c(', "end_line": '),
            pc.cast(_index_array(end_line), pa.string()), c(', "timestamp": "'), timestamp,
            c('", "level": "'), level, c('", "logger": "'), espan(*blk.logger[:2]),
            c('", "thread": "'), espan(*blk.thread[:2]), c('", "ndc": '), ndc, c(', "ctx": '), ctx,
            c(', "jobs": '), jobs_json, c(', "logid": '), logid, c(', "seq": '), seq_json,
            c(', "vms": '), vms_json, c(', "message": "'), espan(*blk.message[:2]),
            c('", "text": "'), _spans(ebuf, esc, mv(text_span[0]), mv(text_span[1])),
            c('", "kind": "record"}\n'), empty,
        ]
        line_json = pc.binary_join_element_wise(*pieces, null_handling="replace", null_replacement="null")
        return pa.RecordBatch.from_arrays([timestamp, level, line_json], names=["timestamp", "level", "json"])

    def _to_utc(self, tsb: np.ndarray) -> Any:
        """``--tz``: the ISO timestamps ``tsb`` (k rows of 23 bytes) in UTC, as the reader's
        ``TimeShift`` writes them. A zone's offset is whole seconds, so the conversion is
        made once per distinct second and the milliseconds are carried over."""
        pa = _arrow()
        from .output import _arrow_column

        convert = self.convert_ts
        assert convert is not None
        k = len(tsb)
        seconds, inverse = np.unique(np.ascontiguousarray(tsb[:, :19]).view("S19").ravel(), return_inverse=True)
        # `convert` of the second with `.000` gives the converted second and `.000Z`.
        heads = [convert(s.decode() + ".000")[:20] for s in seconds.tolist()]
        if all(len(h) == 20 for h in heads):
            out = np.empty((k, 24), np.uint8)
            out[:, :20] = np.frombuffer("".join(heads).encode(), np.uint8).reshape(-1, 20)[inverse.ravel()]
            out[:, 20:23] = tsb[:, 20:23]
            out[:, 23] = 90  # Z
            return pa.Array.from_buffers(pa.string(), k, [
                None, pa.py_buffer(np.arange(0, 24 * (k + 1), 24, dtype=np.int32)), pa.py_buffer(out)])
        # A year before 1000 (no zero padding from strftime): one string per record.
        raw = [bytes(r).decode() for r in tsb]
        return _arrow_column([convert(t) for t in raw], pa.string())

    def _to_batches(self, records: Iterable[Record], rows: int = 8192) -> Iterator[Any]:
        from .output import records_to_batches, records_to_json_batches

        return (records_to_json_batches if self.json else records_to_batches)(records, rows)

    def _levels(self) -> Any:
        if self._level_names is None:
            from .output import _arrow_column

            self._level_names = _arrow_column(list(_LEVELS), _arrow().string())
        return self._level_names


def _int_values(arr: Any) -> np.ndarray:
    """The values of an Arrow integer array without nulls, as a NumPy view (``to_numpy``
    imports pandas: 45 MB of RSS)."""
    dtype = np.dtype(f"int{arr.type.bit_width}")
    return np.frombuffer(arr.buffers()[1], dtype, count=len(arr), offset=arr.offset * dtype.itemsize)


def _patch(base: Any, rows: np.ndarray, values: Any) -> Any:
    """``base`` with ``values`` in place of its ``rows`` (one Arrow take, no Python loop)."""
    pa = _arrow()
    n = len(base)
    take = np.arange(n, dtype=np.int64)
    take[rows] = n + np.arange(len(rows))
    return pa.concat_arrays([base, values.cast(base.type)]).take(_index_array(take))


def iter_file_batches(lf: LogFile, patterns: Patterns, stats: FileStats, *, start: int = 0,
                      length: int | None = None, first_line: int = 1, timeshift: TimeShift | None = None,
                      encoding: str = "utf-8", block: int = BLOCK,
                      reader: list[ColumnarReader] | None = None, json: bool = False) -> Iterator[Any]:
    """Arrow record batches of one file (or byte range that starts a record): the records
    ``records.iter_file_records`` gives, as columns. ``reader``: a list to receive the
    ``ColumnarReader`` (its counts and ``handoff`` tell how the file was read). ``json``:
    batches of ``timestamp``, ``level`` and ``json`` (each record's ``-f jsonl`` line)."""
    if lf.role == "store":
        from .output import records_to_batches, records_to_json_batches
        from .records import iter_store_records

        return (records_to_json_batches if json else records_to_batches)(iter_store_records(lf, stats))
    cr = ColumnarReader(lf, patterns, stats, first_line=first_line, timeshift=timeshift, encoding=encoding,
                        json=json)
    if reader is not None:
        reader.append(cr)
    return _file_batches(cr, lf, stats, start, length, block)


def _file_batches(cr: ColumnarReader, lf: LogFile, stats: FileStats, start: int, length: int | None,
                  block: int) -> Iterator[Any]:
    src = open_plain(lf, start=start, length=length, chunk=block)
    if src is None:
        yield from cr.iter_batches(open_chunks(lf, stats, start=start, length=length, chunk=block))
        return
    try:
        yield from cr.iter_batches(src)
    finally:
        src.close()


__all__ = ["ColumnarReader", "eligible", "iter_file_batches"]
