"""Find log files, give each a role and a host, and stream their lines.

* Compression is recognised by magic bytes (gzip, bzip2, xz), never by name, so
  ``cat x.gz | logparse parse -`` works.
* Bytes are decoded as UTF-8 with replacement: latin-1 and NUL garbage never crash.
* Lines are split on ``\\n`` only; a ``\\r`` before it (CRLF) is dropped.
* A corrupt or truncated compressed stream yields everything readable before the damage
  and records a warning naming the file (``FileStats.warnings``).
"""

from __future__ import annotations

import bz2
import codecs
import fnmatch
import io
import lzma
import os
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .errors import InputError
from .models import FileStats

CHUNK = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
BZ2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"

# File names we pick when walking a directory (issue #2 item 2). Checked against the
# basename; rotated suffixes (.1, .2013-08-05, .gz) are allowed after each.
_ROLE_GLOBS: tuple[tuple[str, str], ...] = (
    ("management-server.log*", "management"),
    ("api-server.log*", "management"),
    ("apilog.log*", "management"),
    ("catalina.out*", "management"),
    ("agent.log*", "agent"),
    ("cloudstack-agent.out*", "agent"),
    ("cloudstack-agent.err*", "agent"),
    ("cloud-agent.out*", "agent"),
    ("libvirtd.log*", "libvirt"),
)

# Folder names that say nothing about which machine a log came from.
_GENERIC_DIRS = frozenset(
    {
        "",
        "/",
        ".",
        "var",
        "log",
        "logs",
        "cloud",
        "cloudstack",
        "management",
        "agent",
        "libvirt",
        "qemu",
        "tmp",
        "sample_logs",
        "bundle",
        "support-bundle",
    }
)

_DATE_SUFFIX = re.compile(r"\.(\d{4}-\d{2}-\d{2})(?:\.(?:gz|bz2|xz))?$")
_NUM_SUFFIX = re.compile(r"\.(\d+)(?:\.(?:gz|bz2|xz))?$")


@dataclass(frozen=True, slots=True)
class LogFile:
    """One input: where it is, how it is shown, which machine and role it belongs to."""

    path: Path | None  # None for stdin
    source: str  # the path as typed / found, or "<stdin>"
    host: str
    role: str  # management | agent | libvirt | other, or "store" for a parsed store
    #: for a parsed store: the original log whose rows this input reads (one input per
    #: log, so that merging and accounting work as with the raw files)
    store_source: str | None = None


def role_for(path: Path) -> str | None:
    """Return the role of a log file from its name, or None when it is not a known log."""
    name = path.name
    for glob, role in _ROLE_GLOBS:
        if fnmatch.fnmatchcase(name, glob):
            return role
    if path.parent.name == "qemu" and ".log" in name:
        return "libvirt"
    return None


def infer_host(path: Path) -> str:
    """Guess the host a log belongs to from its path.

    The first folder above the file that is not a generic log folder wins:
    ``bundle/kvm01/var/log/cloud/agent/agent.log`` → ``kvm01``;
    ``kvm02/agent.log`` → ``kvm02``. Falls back to ``localhost``.
    """
    for parent in path.parents:
        name = parent.name
        if name.lower() not in _GENERIC_DIRS and not name.startswith("."):
            return name
    return "localhost"


def _rotation_key(path: Path) -> tuple[str, int, str, int]:
    """Sort key putting rotated files of one log in chronological order.

    ``x.log.2013-08-05.gz`` < ``x.log.2013-08-06.gz`` < ``x.log.3`` < ``x.log.1`` < ``x.log``.
    """
    name = path.name
    m = _DATE_SUFFIX.search(name)
    if m:
        return (str(path.parent), 0, m.group(1), 0)
    m = _NUM_SUFFIX.search(name)
    if m and not name.endswith(".log"):
        return (str(path.parent), 1, "", -int(m.group(1)))
    return (str(path.parent), 2, "", 0)


def _base_name(path: Path) -> str:
    name = _DATE_SUFFIX.sub("", path.name)
    name = _NUM_SUFFIX.sub("", name) if not name.endswith(".log") else name
    for ext in (".gz", ".bz2", ".xz"):
        name = name.removesuffix(ext)
    return name


def as_logfiles(
    inputs: Iterable[str | Path] | Iterable[LogFile],
    host_overrides: dict[str, str] | None = None,
) -> list[LogFile]:
    """``inputs`` as they are when they are all ``LogFile``\\ s, else ``discover(inputs)``."""
    items = list(inputs)
    if items and all(isinstance(p, LogFile) for p in items):
        return items  # type: ignore[return-value]
    return discover(items, host_overrides)  # type: ignore[arg-type]


def discover(
    paths: Iterable[str | Path],
    host_overrides: dict[str, str] | None = None,
) -> list[LogFile]:
    """Expand files and directories into ``LogFile`` inputs, rotated files in time order.

    Directories are walked recursively and only known CloudStack/libvirt log names are
    kept; files named explicitly are always kept (role ``other`` when the name is unknown).

    :param paths: files, directories, or ``-`` for stdin.
    :param host_overrides: ``{NAME: PATH}`` from ``--host NAME=PATH``: files under PATH get
        host NAME.
    :raises InputError: a path does not exist, or a directory holds no log file.
    """
    out: list[LogFile] = []
    overrides = [(Path(p).resolve(), name) for name, p in (host_overrides or {}).items()]

    def host_of(p: Path) -> str:
        rp = p.resolve()
        best: tuple[int, str] | None = None
        for root, name in overrides:
            if rp == root or root in rp.parents:
                depth = len(root.parts)
                if best is None or depth > best[0]:
                    best = (depth, name)
        return best[1] if best else infer_host(p)

    for raw in paths:
        if str(raw) == "-":
            out.append(LogFile(None, "<stdin>", (host_overrides or {}).get("-", "localhost"), "other"))
            continue
        p = Path(raw)
        if p.is_dir():
            found: list[tuple[Path, str]] = []
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames.sort()
                for fn in sorted(filenames):
                    fp = Path(dirpath) / fn
                    role = role_for(fp)
                    if role is not None:
                        found.append((fp, role))
            if not found:
                raise InputError(f"{raw}: no CloudStack logs found in this directory")
            # Group rotated files of one log, oldest first; groups ordered by path.
            found.sort(key=lambda fr: (str(fr[0].parent), _base_name(fr[0]), _rotation_key(fr[0])))
            for fp, role in found:
                out.append(LogFile(fp, str(fp), host_of(fp), role))
        elif p.exists():
            if role_for(p) is None and is_store(p):
                out.extend(
                    LogFile(p, src, host, "store", src) for src, host in store_sources(p, str(raw))
                )
            else:
                out.append(LogFile(p, str(raw), host_of(p), role_for(p) or "other"))
        else:
            raise InputError(f"{raw}: no such file or directory")
    return out


def _open(lf: LogFile) -> BinaryIO:
    if lf.path is None:
        return sys.stdin.buffer
    try:
        return open(lf.path, "rb")
    except OSError as e:
        raise InputError(f"{lf.source}: {e.strerror or e}") from e


def _kind(head: bytes) -> str:
    """gzip, bzip2, xz or plain, by the first bytes of a file."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZ2_MAGIC) and len(head) >= 4 and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    return "plain"


def _decompressed_chunks(
    fp: BinaryIO, source: str, stats: FileStats, limit: int | None = None, chunk: int = CHUNK,
) -> Iterator[bytes]:
    """Yield decompressed byte chunks; on damage keep what was readable and warn."""
    head = fp.read(chunk if limit is None else min(chunk, limit))
    remaining = None if limit is None else limit - len(head)
    kind = _kind(head)

    def raw_chunks() -> Iterator[bytes]:
        nonlocal remaining
        if head:
            yield head
        while remaining is None or remaining > 0:
            block = fp.read(chunk if remaining is None else min(chunk, remaining))
            if not block:
                return
            if remaining is not None:
                remaining -= len(block)
            yield block

    if kind == "plain":
        yield from raw_chunks()
        return

    def new_decoder() -> Any:
        if kind == "gzip":
            return zlib.decompressobj(wbits=31)
        if kind == "bzip2":
            return bz2.BZ2Decompressor()
        return lzma.LZMADecompressor()

    dec = new_decoder()
    started = False
    produced = 0  # bytes of text out, for the warning (the line count is the reader's, later)
    try:
        for block in raw_chunks():
            data = block
            while True:
                # At most chunk bytes out per call: 1 MiB of gzip is ~10 MB of log text, and
                # the record reader holds one chunk's records at a time.
                if kind == "gzip":
                    out = dec.decompress(data, chunk)
                    data = dec.unconsumed_tail
                    more = bool(data) or len(out) == chunk
                else:
                    out = dec.decompress(data, max_length=chunk)
                    data = b""
                    more = not dec.needs_input
                started = True
                if out:
                    produced += len(out)
                    yield out
                if dec.eof:
                    data = dec.unused_data
                    # Concatenated members/streams (gzip -c a >> x.gz); trailing zero
                    # padding is ignored.
                    if data and data.strip(b"\x00"):
                        dec = new_decoder()
                        started = False
                        continue
                    break
                if not more:
                    break
        if kind == "gzip":
            tail = dec.flush()
            if tail:
                produced += len(tail)
                yield tail
        if started and not dec.eof:
            # Not a line count: the reader has not yet counted the line the cut ended in
            # (it said 53 lines kept where the summary then counted 54).
            stats.warnings.append(
                f"{source}: {kind} stream is truncated; kept the {produced:,} bytes of text before the cut"
            )
    except (zlib.error, OSError, EOFError, lzma.LZMAError) as e:
        stats.warnings.append(
            f"{source}: corrupt {kind} data ({e}); kept the lines readable before it"
        )


def iter_line_batches(
    lf: LogFile,
    stats: FileStats,
    *,
    start: int = 0,
    length: int | None = None,
    encoding: str = "utf-8",
) -> Iterator[list[str]]:
    """Yield the lines of ``lf`` in lists (one per ~1 MiB chunk), without terminators.

    Lines are counted in ``stats.lines`` as they are yielded.

    :param start: byte offset to start from (plain files only; must be a line start).
    :param length: number of bytes to read from ``start`` (plain files only).
    :raises InputError: the file cannot be opened or read.
    """
    fp = _open(lf)
    try:
        if start:
            fp.seek(start)
        yield from lines_of_chunks(counted_chunks(_decompressed_chunks(fp, lf.source, stats, length), stats),
                                   lf.source, stats, encoding)
    finally:
        if lf.path is not None:
            fp.close()


def open_chunks(lf: LogFile, stats: FileStats, *, start: int = 0, length: int | None = None,
                chunk: int = CHUNK) -> Iterator[bytes]:
    """The decompressed byte chunks of ``lf`` (from ``start``, ``length`` bytes; at most
    ``chunk`` bytes each), uncounted.

    :raises InputError: the file cannot be opened or read.
    """
    fp = _open(lf)
    try:
        if start:
            fp.seek(start)
        try:
            yield from _decompressed_chunks(fp, lf.source, stats, length, chunk)
        except OSError as e:
            raise InputError(f"{lf.source}: read error: {e.strerror or e}") from e
    finally:
        if lf.path is not None:
            fp.close()


def counted_chunks(chunks: Iterable[bytes], stats: FileStats) -> Iterator[bytes]:
    """``chunks``, each added to ``stats.bytes_read`` as it passes."""
    for chunk in chunks:
        stats.bytes_read += len(chunk)
        yield chunk


def lines_of_chunks(chunks: Iterable[bytes], source: str, stats: FileStats,
                    encoding: str = "utf-8") -> Iterator[list[str]]:
    """Decode byte chunks and split them into lines (lists, one per chunk), counted in
    ``stats.lines``: ``\n`` ends a line, a ``\r`` before it is dropped (also when the
    CRLF is cut by a chunk boundary), a last line without ``\n`` is a line too."""
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    pending = ""
    try:
        for chunk in chunks:
            text = decoder.decode(chunk)
            if pending.endswith("\r") and text.startswith("\n"):
                # A CRLF cut by the chunk boundary.
                pending = pending[:-1]
            if "\r" in text:
                text = text.replace("\r\n", "\n")
            parts = text.split("\n")
            if pending:
                # Joined to the first line only: prefixing the whole chunk copied 1 MiB.
                parts[0] = pending + parts[0]
            pending = parts.pop()  # a CR at its end is decided with the next chunk
            if parts:
                stats.lines += len(parts)
                yield parts
    except OSError as e:
        raise InputError(f"{source}: read error: {e.strerror or e}") from e
    pending += decoder.decode(b"", final=True)
    if pending:
        stats.lines += 1
        yield [pending.removesuffix("\r")]


def store_sources(path: Path, shown: str) -> list[tuple[str, str]]:
    """The (source, host) pairs a parsed store holds, in the order they were written.

    :raises InputError: the file is not a logparse store.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out: dict[tuple[str, str], None] = {}
    try:
        pf = pq.ParquetFile(path)
        for i in range(pf.metadata.num_row_groups):
            t = pf.read_row_group(i, columns=["source", "host"], use_threads=False)
            # First row of each source (dictionary order is first appearance), without
            # Python scalars in compute calls: converting one imports pandas (+50 MB).
            enc = t.column("source").combine_chunks().dictionary_encode()
            codes = enc.indices.to_pylist()
            hosts = t.column("host")
            for k, source in enumerate(enc.dictionary.to_pylist()):
                out[(source, hosts[codes.index(k)].as_py())] = None
    except (pa.ArrowException, OSError, KeyError) as e:
        raise InputError(f"{shown}: not a logparse store ({e})") from e
    return list(out)


def _regular(path: Path) -> bool:
    """True for a regular file. Anything else (a named pipe, a device) is read once, from
    the start, by the reader: peeking at its first bytes would consume them."""
    import stat

    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def is_store(path: Path) -> bool:
    """True when ``path`` is a Parquet file (a parsed store written by ``parse -f parquet``)."""
    if not _regular(path):
        return False
    try:
        with open(path, "rb") as fp:
            if fp.read(4) != b"PAR1":
                return False
            fp.seek(-4, os.SEEK_END)
            return fp.read(4) == b"PAR1"
    except OSError:
        return False


def is_compressed(path: Path) -> bool:
    """True when the file starts with a gzip/bzip2/xz magic number."""
    with open(path, "rb") as fp:
        head = fp.read(6)
    return _kind(head) != "plain"


def splittable(path: Path) -> bool:
    """True when byte ranges of ``path`` can be read apart: a regular, uncompressed file."""
    return _regular(path) and not is_compressed(path)


class PlainReads:
    """The bytes of a plain regular file from ``start`` (``length`` of them, or to the end),
    read straight into a caller's buffer (``readinto``), or as chunks (iterating: the rest
    of them). A 2 MiB ``read()`` per block was a new bytes object each time, with its page
    faults, then a copy into the block (see ``columnar``)."""

    def __init__(self, fp: io.FileIO, source: str, length: int | None, chunk: int):
        self.fp = fp
        self.source = source
        self.remaining = length
        self.chunk = chunk

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` (less at the end); return the bytes read, 0 at the end."""
        if self.remaining is not None and len(view) > self.remaining:
            view = view[:self.remaining]
        done = 0
        try:
            while done < len(view):
                n = self.fp.readinto(view[done:])
                if not n:
                    break
                done += n
        except OSError as e:
            raise InputError(f"{self.source}: read error: {e.strerror or e}") from e
        if self.remaining is not None:
            self.remaining -= done
        return done

    def __iter__(self) -> Iterator[bytes]:
        while True:
            block = bytearray(self.chunk)
            with memoryview(block) as view:
                n = self.readinto(view)
            if not n:
                return
            del block[n:]
            yield bytes(block)

    def close(self) -> None:
        self.fp.close()


def open_plain(lf: LogFile, *, start: int = 0, length: int | None = None, chunk: int = CHUNK) -> PlainReads | None:
    """``PlainReads`` of ``lf`` when it is a plain regular file, else None (stdin, a pipe,
    a compressed file: ``open_chunks`` then)."""
    if lf.path is None or not _regular(lf.path):  # a pipe is opened once, by open_chunks
        return None
    try:
        fp = open(lf.path, "rb", buffering=0)  # noqa: SIM115 (PlainReads closes it); unbuffered: one read(2) per block
    except OSError as e:
        raise InputError(f"{lf.source}: {e.strerror or e}") from e
    try:
        if _kind(fp.read(6)) != "plain":
            fp.close()
            return None
        fp.seek(start)
    except OSError as e:
        fp.close()
        raise InputError(f"{lf.source}: {e.strerror or e}") from e
    return PlainReads(fp, lf.source, length, chunk)
