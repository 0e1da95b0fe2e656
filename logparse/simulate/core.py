"""Writer, clock and rotation helpers for the log simulator.

Times are integer milliseconds since 2000-01-01 00:00 (naive local time, the clock every
simulated log is written in). Files are built as log4j writes them: the current day goes to
the plain file (``agent.log``), and at the first line after midnight the old content is
rotated to ``agent.log.YYYY-MM-DD.gz`` (ref §1.4, ``TimeBasedRollingPolicy``). Rotated days
are gzip-compressed in one background thread (zlib releases the GIL), with ``mtime=0`` and no
file name in the header so that the same seed gives byte-identical files.
"""

from __future__ import annotations

import gzip
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from logparse.errors import LogparseError

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MIN_MS = 60_000
EPOCH = datetime(2000, 1, 1)
_FLUSH_CHARS = 1 << 20  # write in ~1 MiB chunks


class SimulationError(LogparseError):
    """The simulation cannot run with the given arguments or output directory."""


def to_ms(dt: datetime) -> int:
    """Return ``dt`` as simulator milliseconds."""
    delta = dt - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    """Return simulator milliseconds as a naive datetime."""
    return EPOCH + timedelta(milliseconds=ms)


def iso_ms(ms: int) -> str:
    """ISO-8601 with milliseconds, naive: ``2013-08-05T14:02:11.110`` (ground-truth times)."""
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}"


def day_name(day: int) -> str:
    """``YYYY-MM-DD`` of a day index (``ms // DAY_MS``)."""
    return (EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")


class Stamp:
    """Timestamp formatter with a per-second cache (the hot path of every line)."""

    __slots__ = ("_day", "_dprefix", "_prefix", "_qprefix", "_qsec", "_sec")

    def __init__(self) -> None:
        self._sec = -1
        self._prefix = ""
        self._day = -1
        self._dprefix = ""
        self._qsec = -1
        self._qprefix = ""

    def log(self, ms: int) -> str:
        """log4j ``%d{ISO8601}``: ``2013-08-05 14:02:11,110`` (comma, no zone; ref §1.2)."""
        sec = ms // 1000
        if sec != self._sec:
            self._sec = sec
            day, rem = divmod(sec, 86_400)
            if day != self._day:
                self._day = day
                self._dprefix = (EPOCH + timedelta(days=day)).strftime("%Y-%m-%d ")
            hh, rem = divmod(rem, 3600)
            mm, ss = divmod(rem, 60)
            self._prefix = f"{self._dprefix}{hh:02d}:{mm:02d}:{ss:02d}"
        return f"{self._prefix},{ms % 1000:03d}"

    def qemu(self, ms: int) -> str:
        """libvirt qemu log stamp: ``2013-08-05 14:02:12.345+0000`` (ref §1.6)."""
        sec = ms // 1000
        if sec != self._qsec:
            self._qsec = sec
            self._qprefix = (EPOCH + timedelta(seconds=sec)).strftime("%Y-%m-%d %H:%M:%S")
        return f"{self._qprefix}.{ms % 1000:03d}+0000"


def _gzip_and_remove(src: Path, dst: Path, level: int) -> None:
    # filename="" and mtime=0: no name and no time in the header -> reproducible bytes
    with (
        src.open("rb") as fin,
        dst.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=level) as gz,
    ):
        shutil.copyfileobj(fin, gz, 1 << 20)
    src.unlink()


class LogFile:
    """One log file with daily rotation; lines are buffered and written in big chunks."""

    __slots__ = ("_bundle", "_chunks", "_fh", "_pending", "day", "path", "rel", "rotate")

    def __init__(self, bundle: Bundle, rel: str, *, rotate: bool) -> None:
        self._bundle = bundle
        self.rel = rel
        self.path = bundle.root / rel
        self.rotate = rotate
        self.day = -1
        self._chunks: list[str] = []
        self._pending = 0
        self._fh: object | None = None

    def write(self, ms: int, text: str) -> None:
        """Append ``text`` (one record, ``\\n``-terminated) stamped at ``ms``."""
        day = ms // DAY_MS
        if day != self.day:
            self._new_day(day)
        self._chunks.append(text)
        n = len(text)
        self._pending += n
        self._bundle.total += n
        if self._pending > _FLUSH_CHARS:
            self._flush()

    def _flush(self) -> None:
        if not self._chunks:
            return
        data = "".join(self._chunks).encode("utf-8")
        self._chunks.clear()
        self._pending = 0
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("ab")
        self._fh.write(data)  # type: ignore[attr-defined]

    def _new_day(self, day: int) -> None:
        if self.day >= 0 and self.rotate:
            self.close()
            if self.path.exists():
                self._bundle.rotate(self.path, day_name(self.day))
        self.day = day

    def close(self) -> None:
        """Flush and close the current file (it stays the plain, current-day file)."""
        self._flush()
        if self._fh is not None:
            self._fh.close()  # type: ignore[attr-defined]
            self._fh = None


class CountingFile:
    """Stand-in for :class:`LogFile` that only counts characters (dry runs)."""

    __slots__ = ("_bundle", "rel")

    def __init__(self, bundle: Bundle, rel: str) -> None:
        self._bundle = bundle
        self.rel = rel

    def write(self, ms: int, text: str) -> None:
        """Count ``text``."""
        self._bundle.total += len(text)

    def close(self) -> None:
        """Nothing to close."""


class Bundle:
    """The output tree: all log files of one simulation, and the rotation worker."""

    def __init__(self, root: Path, *, compress_level: int = 6, dry_run: bool = False) -> None:
        self.root = root
        self.compress_level = compress_level
        self.dry_run = dry_run
        self.total = 0  # characters written so far (ASCII: = bytes)
        self._files: dict[str, LogFile | CountingFile] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[None]] = []

    def file(self, rel: str, *, rotate: bool = True) -> LogFile | CountingFile:
        """Return the file at ``rel`` (created on first write)."""
        f = self._files.get(rel)
        if f is None:
            f = CountingFile(self, rel) if self.dry_run else LogFile(self, rel, rotate=rotate)
            self._files[rel] = f
        return f

    def rotate(self, path: Path, day: str) -> None:
        """Move the plain ``path`` to ``path.DAY`` and gzip it in the background."""
        moved = path.with_name(f"{path.name}.{day}")
        path.rename(moved)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simulate-gzip")
        gz = moved.with_name(moved.name + ".gz")
        self._futures.append(self._pool.submit(_gzip_and_remove, moved, gz, self.compress_level))

    def close(self) -> list[str]:
        """Flush everything, wait for the compressions, return the relative file list (sorted)."""
        for f in self._files.values():
            f.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            for fut in self._futures:
                fut.result()  # re-raise a compression error here
        if self.dry_run:
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
