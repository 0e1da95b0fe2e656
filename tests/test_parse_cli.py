"""`logparse parse`: formats, accounting summary, parallel == sequential, errors."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import zlib
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from logparse.cli import cli
from logparse.models import RECORD_COLUMNS, FileStats
from logparse.patterns import Patterns
from logparse.pipeline import RecordFilter, run_parse
from logparse.sources import discover

MS = """\
2013-08-07 14:02:11,110 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) Executing com.cloud.api.commands.StartVMCmd for job-123
2013-08-07 14:02:11,301 DEBUG [agent.transport.Request] (Job-Executor-4:job-123) Seq 3-1493630987: Sending  { Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100111, [{"StartCommand":{"vm":{"id":5,"name":"i-2-5-VM"},"wait":0}}] }
2013-08-07 14:02:11,363 ERROR [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) Failed to start instance VM[User|i-2-5-VM]
com.cloud.utils.exception.CloudRuntimeException: Unable to get answer that is of class com.cloud.agent.api.StartAnswer
\tat com.cloud.agent.manager.Commands.getAnswer(Commands.java:81)
2013-08-07 14:02:11,440 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) Complete async job-123, jobStatus: 2, resultCode: 530, result: null
"""


def _tree(tmp_path: Path) -> Path:
    ms = tmp_path / "ms1" / "var" / "log" / "cloud" / "management"
    ms.mkdir(parents=True)
    (ms / "management-server.log.2013-08-06.gz").write_bytes(gzip.compress(MS.replace("08-07", "08-06").encode()))
    (ms / "management-server.log").write_text("pasted fragment line\n" + MS)
    return tmp_path


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl"])
def test_parse_every_format(runner: CliRunner, tmp_path: Path, fmt: str) -> None:
    root = _tree(tmp_path)
    result = runner.invoke(cli, ["parse", str(root), "-f", fmt], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.stdout
    if fmt == "jsonl":
        rows = [json.loads(x) for x in out.splitlines()]
    elif fmt == "json":
        rows = json.loads(out)
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
    else:
        assert out.splitlines()[0].split()[:3] == ["source", "host", "role"]
        rows = out.splitlines()[1:]
    assert len(rows) == 9  # 4 records per file + 1 orphan block
    if fmt in ("json", "jsonl"):
        assert list(rows[0]) == list(RECORD_COLUMNS)
        # rotated .gz first, then the current file
        assert rows[0]["source"].endswith(".gz") and rows[0]["host"] == "ms1"
        assert rows[0]["role"] == "management"
        assert rows[4]["kind"] == "orphan" and rows[4]["line"] == 1
        failed = rows[2]
        assert failed["end_line"] == 5 and failed["vms"] == ["i-2-5-VM"] and failed["jobs"] == [123]
        assert failed["timestamp"] == "2013-08-06T14:02:11.363"
    assert "management-server.log: 7 lines = 4 records + 2 continuation + 1 orphan" in result.stderr
    assert "warning: 1 lines in" in result.stderr


def test_parse_parquet_store_round_trip(runner: CliRunner, tmp_path: Path) -> None:
    root = _tree(tmp_path)
    store = tmp_path / "store.parquet"
    r1 = runner.invoke(cli, ["parse", str(root), "-f", "parquet", "-o", str(store)], catch_exceptions=False)
    assert r1.exit_code == 0, r1.output
    a = runner.invoke(cli, ["parse", str(root), "-f", "jsonl"], catch_exceptions=False).stdout
    b = runner.invoke(cli, ["parse", str(store), "-f", "jsonl"], catch_exceptions=False).stdout
    assert a == b


def test_filters_since_until_level(runner: CliRunner, tmp_path: Path) -> None:
    root = _tree(tmp_path)
    r = runner.invoke(cli, ["parse", str(root), "-f", "jsonl", "--since", "2013-08-07", "--level", "error"])
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["timestamp"], x["level"]) for x in rows] == [("2013-08-07T14:02:11.363", "ERROR")]
    r = runner.invoke(cli, ["parse", str(root), "-f", "jsonl", "--until", "2013-08-06 14:02:11,302"])
    assert len(r.stdout.splitlines()) == 2


def test_tz_converts_to_utc(runner: CliRunner, tmp_path: Path) -> None:
    root = _tree(tmp_path)
    r = runner.invoke(cli, ["parse", str(root), "-f", "jsonl", "--tz", "ms1=Europe/Madrid"], catch_exceptions=False)
    first = json.loads(r.stdout.splitlines()[0])
    assert first["timestamp"] == "2013-08-06T12:02:11.110Z"
    r = runner.invoke(cli, ["parse", str(root), "--tz", "Mars/Olympus"])
    assert r.exit_code == 1 and "unknown time zone" in r.stderr


def test_parallel_output_identical_to_sequential(tmp_path: Path, patterns: Patterns) -> None:
    big = tmp_path / "kvm01" / "agent.log"
    big.parent.mkdir(parents=True)
    big.write_text("orphan first\n" + MS * 400)
    (tmp_path / "kvm01" / "agent.log.2013-08-01.gz").write_bytes(gzip.compress((MS * 50).encode()))
    files = discover([tmp_path])
    for fmt, suffix in (("jsonl", "jsonl"), ("csv", "csv"), ("json", "json"), ("table", "txt"), ("parquet", "parquet")):
        seq_out, par_out = tmp_path / f"seq.{suffix}", tmp_path / f"par.{suffix}"
        s1, n1 = run_parse(files, patterns, fmt=fmt, output=seq_out, jobs=1)
        s2, n2 = run_parse(files, patterns, fmt=fmt, output=par_out, jobs=2, unit_bytes=8192)
        assert n1 == n2
        if fmt == "parquet":
            import pyarrow.parquet as pq

            assert pq.read_table(seq_out).equals(pq.read_table(par_out))
        else:
            assert seq_out.read_bytes() == par_out.read_bytes(), fmt
        assert [(s.lines, s.records, s.continuation, s.orphans) for s in s1] == [
            (s.lines, s.records, s.continuation, s.orphans) for s in s2
        ]
        assert all(s.balanced for s in s2)


def test_parallel_with_filter(tmp_path: Path, patterns: Patterns) -> None:
    f = tmp_path / "agent.log"
    f.write_text(MS * 300)
    files = discover([f])
    flt = RecordFilter(level="ERROR")
    _, n1 = run_parse(files, patterns, output=tmp_path / "a", jobs=1, rfilter=flt)
    _, n2 = run_parse(files, patterns, output=tmp_path / "b", jobs=2, rfilter=flt, unit_bytes=4096)
    assert n1 == n2 == 300
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_missing_path_is_one_line_error(runner: CliRunner, tmp_path: Path) -> None:
    r = runner.invoke(cli, ["parse", str(tmp_path / "nope.log")])
    assert r.exit_code == 1
    assert r.stderr.strip() == f"Error: {tmp_path / 'nope.log'}: no such file or directory"


@pytest.mark.parametrize(("fmt", "jobs"), [("parquet", "2"), ("jsonl", "2"), ("parquet", "1"), ("jsonl", "1")])
def test_output_in_a_missing_directory_is_one_line_error(runner: CliRunner, tmp_path: Path, fmt: str,
                                                         jobs: str) -> None:
    log = tmp_path / "agent.log"
    log.write_text(MS * 3)
    out = tmp_path / "no-such-dir" / f"x.{fmt}"
    r = runner.invoke(cli, ["parse", str(log), "-q", "-f", fmt, "-o", str(out), "--jobs", jobs])
    assert r.exit_code == 1
    assert r.stderr.strip() == f"Error: {out}: directory {out.parent} does not exist"


def test_directory_without_logs(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    r = runner.invoke(cli, ["parse", str(tmp_path)])
    assert r.exit_code == 1 and "no CloudStack logs found" in r.stderr
    assert "Traceback" not in r.output


def test_truncated_gzip_warns_and_exits_nonzero(runner: CliRunner, tmp_path: Path) -> None:
    data = gzip.compress((MS * 500).encode())
    p = tmp_path / "management-server.log.2013-08-05.gz"
    p.write_bytes(data[: len(data) // 2])
    r = runner.invoke(cli, ["parse", str(p), "-f", "jsonl"])
    assert r.exit_code == 1
    assert r.stdout.count("\n") > 100  # what was readable is there
    readable = len(zlib.decompressobj(wbits=31).decompress(data[: len(data) // 2]))
    assert f"warning: {p}: gzip stream is truncated; kept the {readable:,} bytes of text before the cut" in r.stderr
    assert "Traceback" not in r.output


def test_output_file_is_written_whole_or_not_at_all(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    r = runner.invoke(cli, ["parse", str(tmp_path / "missing.log"), "-o", str(out)])
    assert r.exit_code == 1 and not out.exists()
    assert not list(tmp_path.glob(".out.jsonl*"))


def test_inputs_are_never_modified(runner: CliRunner, tmp_path: Path) -> None:
    root = _tree(tmp_path)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}
    runner.invoke(cli, ["parse", str(root), "-f", "jsonl", "-j", "2"], catch_exceptions=False)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}
    assert before == after


def test_python_dash_m_works(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "logparse", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("logparse, version")


def _main(tmp_path: Path, before: str, *args: str) -> Any:
    """Run ``logparse.cli.main`` (the program's entry point) in a new interpreter, after
    ``before`` (Python statements)."""
    import subprocess
    import sys

    code = f"import sys\n{before}\nsys.argv = ['logparse', *{list(args)!r}]\nfrom logparse.cli import main\nmain()\n"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, as by default
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)


def test_program_exit_keeps_output_codes_and_exit_functions(tmp_path: Path) -> None:
    """The entry point ends the process with ``os._exit`` (no interpreter teardown), but
    everything an exit owes still happens: buffered stdout written whole, each exit code
    as click gives it, ``atexit`` functions run, and a running non-daemon thread waited for."""
    log = tmp_path / "management-server.log"
    log.write_text(MS * 400)
    # Printed at exit into stdout's buffer, no newline: lost unless flushed after atexit.
    bye = "import atexit; atexit.register(lambda: print('atexit ran', end=''))"
    ok = _main(tmp_path, bye, "parse", str(log), "-q", "-f", "jsonl")
    assert ok.returncode == 0 and ok.stdout.endswith('"kind": "record"}\natexit ran')
    assert len(ok.stdout.splitlines()) == 4 * 400 + 1
    missing = _main(tmp_path, bye, "parse", str(tmp_path / "nope.log"))
    assert missing.returncode == 1 and missing.stderr.startswith("Error:") and missing.stdout == "atexit ran"
    usage = _main(tmp_path, "", "parse", "--no-such-option")
    assert usage.returncode == 2 and "No such option" in usage.stderr
    late = ("import threading, time\n"
            "threading.Thread(target=lambda: (time.sleep(0.5), print('thread done', flush=True))).start()")
    waited = _main(tmp_path, late, "--version")
    assert waited.returncode == 0 and waited.stdout.endswith("thread done\n")


def test_fast_record_json_equals_json_dumps(patterns: Patterns) -> None:
    from logparse.output import record_json
    from logparse.records import parse_text

    text = MS + 'weird "quotes" \\ back\tslash caf\u00e9 \u2028 \x00\n'
    for r in parse_text(text, patterns):
        assert record_json(r) == json.dumps(r.as_dict(), ensure_ascii=False)


def test_columnar_parquet_equals_row_parquet(patterns: Patterns, tmp_path: Path) -> None:
    from logparse.models import RECORD_COLUMNS
    from logparse.output import write_parquet, write_records_parquet
    from logparse.records import parse_text

    text = "orphan caf\u00e9\n" + MS + 'weird "quotes" caf\u00e9 \u2028 \x00 i-2-5-VM r-4-VM\n' + MS
    recs = parse_text(text, patterns)
    assert any(r.timestamp is None for r in recs) and any(r.vms for r in recs) and any(r.jobs for r in recs)
    write_parquet((r.as_dict() for r in recs), RECORD_COLUMNS, tmp_path / "rows.parquet", batch_rows=3)
    write_records_parquet(recs, tmp_path / "cols.parquet", batch_rows=3)
    assert (tmp_path / "rows.parquet").read_bytes() == (tmp_path / "cols.parquet").read_bytes()
    write_records_parquet([], tmp_path / "empty.parquet")
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "empty.parquet").num_rows == 0


def test_output_to_a_device_is_not_replaced(runner: CliRunner, tmp_path: Path) -> None:
    import os
    import stat

    root = _tree(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    import threading

    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = runner.invoke(cli, ["parse", str(root), "-f", "jsonl", "-o", str(fifo)], catch_exceptions=False)
    reader.join(10)
    assert r.exit_code == 0
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a FIFO, not a regular file
    assert got and got[0].count(b"\n") == 9


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.floats(allow_nan=False),
    st.lists(st.text(max_size=6), max_size=5), st.lists(st.integers(), max_size=5),
    st.lists(st.one_of(st.integers(), st.text(max_size=3), st.booleans(), st.none()), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
))
def test_csv_cells_match_json_dumps(v: object) -> None:
    from logparse.output import _cell_csv

    got = _cell_csv(v)
    if isinstance(v, (list, tuple, dict)):
        assert got == json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=str)
    elif isinstance(v, bool):
        assert got == ("true" if v else "false")
    else:
        assert got == ("" if v is None else v)


@pytest.mark.parametrize("jobs", [1, 2])
def test_progress_reports_every_byte_and_changes_no_output(tmp_path: Path, patterns: Patterns, jobs: int) -> None:
    log = tmp_path / "kvm01" / "agent.log"
    log.parent.mkdir(parents=True)
    log.write_text(MS * 300)
    files = discover([tmp_path])
    seen: list[int] = []
    quiet, with_bar = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_parse(files, patterns, fmt="jsonl", output=quiet, jobs=jobs, unit_bytes=8192)
    run_parse(files, patterns, fmt="jsonl", output=with_bar, jobs=jobs, unit_bytes=8192, progress=seen.append)
    assert quiet.read_bytes() == with_bar.read_bytes()
    assert sum(seen) == log.stat().st_size


@pytest.mark.parametrize("args", [["parse", "sample_logs/upgrade-2.2.14", "-q", "-f", "jsonl", "--jobs", "1"],
                                  ["vms", "sample_logs/upgrade-2.2.14", "--jobs", "1"],
                                  ["diagnose", "sample_logs/upgrade-2.2.14", "-q", "-f", "json", "--jobs", "1"]])
def test_a_closed_pipe_ends_quietly(args: list[str]) -> None:
    """`logparse … | head -1`: no traceback and no error line, like grep."""
    import subprocess
    import sys

    with subprocess.Popen([sys.executable, "-m", "logparse", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.wait(timeout=60)
    assert "Error" not in err and "Traceback" not in err


def test_default_jobs_follow_the_affinity_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pinned to one core (``taskset -c 0``, a cpuset container), the default is one worker,
    whatever ``os.cpu_count()`` says; on every core it is capped at 8."""
    from logparse.cli.common import default_jobs

    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert default_jobs() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert default_jobs() == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert default_jobs() == 8


@given(pieces=st.floats(0, 300), jobs=st.integers(2, 8), unit=st.integers(1, 1 << 26))
def test_pieces_shrink_towards_the_end_of_a_file(pieces: float, jobs: int, unit: int) -> None:
    """Pieces cover the file; none is larger than ``unit``, each is at least a quarter of
    it but the last (a small rest), and they never grow along the file, so that the
    workers finish together."""
    from logparse.pipeline import piece_offsets

    size = max(1, int(pieces * unit))
    cuts = piece_offsets(size, jobs, unit)
    bounds = [0, *cuts, size]
    sizes = [b - a for a, b in pairwise(bounds)]
    least = max(1, unit // 4)
    assert all(s > 0 for s in sizes)
    assert all(least <= s <= unit for s in sizes[:-1])
    assert sizes[:-1] == sorted(sizes[:-1], reverse=True)
    assert sizes[-1] <= least + least // 2 if cuts else sizes == [size]


def test_workers_use_the_patterns_they_are_given(tmp_path: Path, user_format: Callable[..., Patterns]) -> None:
    """A user's format, loaded by the caller, is the workers' too (they inherit the loaded
    patterns; before, each loaded the bundled set plus whatever directories it was told)."""
    mine = [f"2013-08-07 14:02:{i % 60:02d},102 MINE step {i}\n" for i in range(400)]
    log = tmp_path / "logs" / "management-server.log"
    log.parent.mkdir()
    log.write_text(MS + "".join(mine) + MS)
    patterns = user_format()
    files = discover([log])
    outs = []
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}.jsonl"
        stats, n = run_parse(files, patterns, fmt="jsonl", output=out, jobs=jobs, unit_bytes=4096)
        outs.append(out.read_bytes())
        assert stats[0].records == n == 400 + 2 * 4
    assert outs[0] == outs[1]
    assert b'"message": "step 399"' in outs[1]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_named_pipe_input_is_read_once(tmp_path: Path, jobs: str) -> None:
    """A named pipe is opened once, by the reader: nothing peeks at its first bytes (a store
    check, a compression check, the plain-file reader), which would consume them and leave
    the reader waiting for a writer that is gone."""
    import subprocess
    import sys
    import threading

    data = (MS * 200).encode()
    plain = tmp_path / "plain.log"
    plain.write_bytes(data)
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as w:
            w.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    outs = []
    for src in (fifo, plain):
        out = tmp_path / f"{src.stem}.jsonl"
        subprocess.run([sys.executable, "-m", "logparse", "parse", str(src), "-q", "-f", "jsonl", "-o", str(out),
                        "--jobs", jobs], check=True, timeout=60)
        outs.append([json.loads(line) | {"source": ""} for line in out.read_text().splitlines()])
    writer.join(5)
    assert len(outs[0]) == 800 and outs[0] == outs[1]


@pytest.mark.parametrize("columnar", [True, False])
def test_input_error_while_writing_parquet_leaves_no_traceback(tmp_path: Path, patterns: Patterns,
                                                               capfd: pytest.CaptureFixture[str],
                                                               columnar: bool) -> None:
    """An error from the input half-way through a store: the error passes through, no file
    is left, and the Parquet writer is not closed later into the closed file (pyarrow
    prints a traceback then)."""
    import gc

    from logparse.errors import InputError
    from logparse.output import write_batches_parquet, write_parquet

    log = tmp_path / "management-server.log"
    log.write_text(MS * 50)
    lf = discover([log])[0]
    out = tmp_path / "store.parquet"

    def failing(items: Iterator[Any]) -> Iterator[Any]:
        for i, item in enumerate(items):
            yield item
            if i == 3:
                raise InputError(f"{lf.source}: read error")

    from logparse.columnar import iter_file_batches

    def write() -> None:
        if columnar:
            write_batches_parquet(failing(iter_file_batches(lf, patterns, FileStats(lf.source, lf.host, lf.role),
                                                            block=256)), out, 4, columnar=True)
        else:
            write_parquet(failing({"line": i, "text": "x"} for i in range(100)), ["line", "text"], out, 2)

    with pytest.raises(InputError):
        write()
    gc.collect()
    assert not out.exists() and list(tmp_path.glob(".store.parquet.*")) == []
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception ignored" not in err


def test_ctrl_c_with_workers_is_one_line(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group: the parent stops the pool and says so in one
    line; the workers print nothing (they ignore it), and no output file is left."""
    import signal
    import subprocess
    import sys
    import threading
    import time

    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    (tmp_path / "management-server.log").write_text(MS)
    release = threading.Event()

    def feed() -> None:  # a log that is still being written: the worker waits on it
        with open(fifo, "wb") as w:
            w.write(MS.encode())
            w.flush()
            release.wait(60)

    threading.Thread(target=feed, daemon=True).start()
    out = tmp_path / "out.parquet"
    p = subprocess.Popen([sys.executable, "-m", "logparse", "parse", str(fifo), str(tmp_path / "management-server.log"),
                          "-f", "parquet", "-o", str(out), "--jobs", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        time.sleep(2)
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=30)
    finally:
        release.set()
        if p.poll() is None:
            p.kill()
    assert p.returncode != 0
    assert err.decode().strip() == "Aborted!"
    assert not out.exists() and not list(tmp_path.glob(".out.parquet.*"))


def test_workers_leave_ctrl_c_to_the_parent(patterns: Patterns, tmp_path: Path) -> None:
    """Both pools' workers ignore SIGINT from their start (a worker that took it printed a
    ``Process ForkPoolWorker-N:`` report of its own, racing the parent's one-line error)."""
    import signal

    from logparse import correlate, pipeline

    before = signal.getsignal(signal.SIGINT)
    try:
        for init in (lambda: pipeline._init_worker(patterns, None, RecordFilter(), "jsonl", RECORD_COLUMNS,
                                                   str(tmp_path), "utf-8"),
                     lambda: correlate._init_extract(patterns, None, "utf-8")):
            signal.signal(signal.SIGINT, signal.default_int_handler)
            init()
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(("fmt", "jobs"), [("jsonl", "1"), ("jsonl", "2"), ("csv", "1"), ("csv", "2"),
                                           ("parquet", "1"), ("parquet", "2")])
def test_full_disk_is_one_line(runner: CliRunner, tmp_path: Path, fmt: str, jobs: str) -> None:
    """Every output format, one process or several: a full disk (/dev/full) is one line
    naming the output and exit code 1 (jsonl and csv ended in a traceback)."""
    log = tmp_path / "management-server.log"
    log.write_text(MS * 20)
    r = runner.invoke(cli, ["parse", str(log), "-q", "-f", fmt, "-o", "/dev/full", "--jobs", jobs])
    assert r.exit_code == 1, r.output
    assert r.output.strip() == "Error: /dev/full: No space left on device"


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_output_in_a_directory_that_takes_no_files(runner: CliRunner, tmp_path: Path, jobs: str) -> None:
    """/proc takes no new files (not even as root): one line naming the output, no traceback
    (the parts' directory beside the output, and the temporary file, raised OSErrors)."""
    log = tmp_path / "management-server.log"
    log.write_text(MS * 20)
    r = runner.invoke(cli, ["parse", str(log), "-q", "-f", "jsonl", "-o", "/proc/logparse-test.jsonl", "--jobs", jobs])
    assert r.exit_code == 1, r.output
    assert r.output.startswith("Error: /proc/logparse-test.jsonl: ") and r.output.count("\n") == 1


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_newline_counts_before_each_piece(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    """The line a piece starts at comes from counting ``\\n`` before it, in 1 MiB reads into
    one buffer: offsets inside a read, on its edges, and past the end of the file."""
    from logparse.pipeline import _iter_newline_counts

    size = data.draw(st.integers(0, 3 << 20))
    rnd = data.draw(st.randoms(use_true_random=False))
    blob = bytes(rnd.choice(b"ab\n\r") for _ in range(size)) if size < 4096 else \
        (b"x" * rnd.randrange(1, 300) + b"\n") * (size // 150) + b"tail"
    path = tmp_path_factory.mktemp("nl") / "log"
    path.write_bytes(blob)
    edges = [1 << 20, (1 << 20) - 1, (1 << 20) + 1, 2 << 20, len(blob), len(blob) + 10]
    offsets = sorted(set(data.draw(st.lists(st.sampled_from(edges) | st.integers(0, len(blob) + 10), max_size=8))))
    assert list(_iter_newline_counts(path, offsets)) == [blob[:o].count(b"\n") for o in offsets]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
@pytest.mark.parametrize(("preset", "threads"), [(None, "1"), ("2", "2")])
def test_cli_starts_no_blas_threads(preset: str | None, threads: str) -> None:
    """NumPy's OpenBLAS thread spun on a core the workers needed; the CLI asks for none
    before NumPy loads, and keeps a value the user set."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    code = ("import os, logparse.cli, numpy; "
            "print(os.environ['OPENBLAS_NUM_THREADS'], len(os.listdir('/proc/self/task')))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    value, tasks = out.split()
    assert value == threads
    if preset is None:
        assert tasks == "1"
