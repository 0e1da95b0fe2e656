"""The columnar fast path (``logparse.columnar``) gives the record reader's records exactly.

Every test compares the Arrow batches of ``iter_file_batches`` with the reader's records
(``records.iter_file_records``) turned into batches, value for value, plus the line
accounting; and checks which path built the records, so that a fast path that quietly
handed everything to the reader would fail here.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logparse.columnar import LOG4J_PATTERN, ColumnarReader, eligible, iter_file_batches
from logparse.models import RECORD_COLUMNS, FileStats
from logparse.output import record_arrow_schema, record_json, records_to_batches
from logparse.patterns import Patterns, load_patterns
from logparse.records import RecordReader, TimeShift, iter_file_records
from logparse.sources import LogFile, as_logfiles

ROOT = Path(__file__).resolve().parent.parent


def _stats(s: FileStats) -> tuple[object, ...]:
    return (s.lines, s.records, s.continuation, s.orphans, s.first_orphan, s.bytes_read, s.warnings)


def compare(lf: LogFile, patterns: Patterns, block: int = 1 << 20, tz: TimeShift | None = None) -> ColumnarReader:
    """Assert both paths agree on ``lf``; return the columnar reader (for its counts)."""
    s1 = FileStats(lf.source, lf.host, lf.role)
    s2 = FileStats(lf.source, lf.host, lf.role)
    schema = record_arrow_schema()
    want = pa.Table.from_batches(list(records_to_batches(iter_file_records(lf, patterns, s1, timeshift=tz))),
                                 schema=schema)
    readers: list[ColumnarReader] = []
    got = pa.Table.from_batches(list(iter_file_batches(lf, patterns, s2, block=block, reader=readers,
                                                       timeshift=tz)), schema=schema)
    for c in RECORD_COLUMNS:
        a, b = want.column(c).to_pylist(), got.column(c).to_pylist()
        if a != b:
            i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
            raise AssertionError(f"{lf.source}: column {c} row {i}: {a[i:i + 1]} != {b[i:i + 1]} "
                                 f"({len(a)} vs {len(b)} rows; handoff {readers[0].handoff})")
    assert _stats(s1) == _stats(s2)
    assert s2.balanced
    # The JSON-lines mode: each record's line exactly as `output.record_json` writes it.
    s3 = FileStats(lf.source, lf.host, lf.role)
    lines = "".join("".join(b.column("json").to_pylist())
                    for b in iter_file_batches(lf, patterns, s3, block=block, json=True, timeshift=tz))
    assert lines == "".join(record_json(r) + "\n"
                            for r in iter_file_records(lf, patterns, FileStats("", "", ""), timeshift=tz))
    assert _stats(s3) == _stats(s1)
    return readers[0]


def _file(tmp_path: Path, name: str, data: bytes, role_dir: str = "kvm01") -> LogFile:
    p = tmp_path / role_dir / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return as_logfiles([p])[0]


HEADERS = [
    # 2.2: [%c{3}] (thread:null), job-N, Seq, VM names, AsyncJobVO
    "2012-03-01 14:02:11,102 DEBUG [cloud.async.AsyncJobManagerImpl] (catalina-exec-7:null) submit async "
    "job-123, details: AsyncJobVO {id:123, userId: 2, instanceId: 5}",
    "2012-03-01 14:02:11,301 DEBUG [agent.transport.Request] (Job-Executor-4:job-123) Seq 3-1493630987: "
    'Sending  { Cmd , MgmtId: 90520732674657, via: 3, [{"StartCommand":{"vm":{"id":5,"name":"i-2-5-VM"}}}] }',
    "2012-03-01 14:02:11,349 WARN  [resource.computing.LibvirtComputingResource] (agentRequest-Handler-2:null) Exception ",
    "2012-03-01 14:02:11,350{GMT} WARN  [resource.computing.LibvirtComputingResource] (agentRequest-Handler-2:) x",
    "2013-10-02 09:11:40,120 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-21:job-1234 = [ 2e5b41d8-1f7c ]) "
    "Executing StartVMCmd for job-1234 = [ 2e5b41d8-1f7c ]",
    # 4.3+ abbreviated loggers, ctx NDC; 4.7+ logid; 4.20 log4j 2 NDC list and T date
    "2014-01-14 10:20:30,420 DEBUG [c.c.a.t.Request] (Job-Executor-3:ctx-8e1d4c2f) Seq 1-7953898358211821626: "
    "Sending  { Cmd , MgmtId: 90520739143127, via: 1(kvm01), Ver: v1 }",
    "2021-03-13 02:40:02,888 DEBUG [o.a.c.f.j.i.AsyncJobManagerImpl] (Work-Job-Executor-17:ctx-3d84aa87 "
    "job-61/job-62) (logid:fc577e10) Publish async job-62 complete on message bus",
    "2024-03-01T10:00:00,123 WARN  [c.c.a.AgentManagerImpl] ([ctx-1a2b3c4d, job-61/job-62]) (logid:9f8e7d6c) "
    "xSeq 1-2: no SeqA 4--5: yes",
    "2024-03-01 10:00:00.123 INFO  [c.c.a.AgentManagerImpl] (main:) (logid:) SeqA 1--5: r-4-VM s-1-VM r-4-VM",
    "2012-03-01 14:02:12,000 INFO  [cloud.agent.Agent] (UgentTask-2:null)",
    "2012-03-01 14:02:12,001 ERROR [] (:) ",
    "2012-03-01 14:02:12,002 FATAL [a]  (b:c) (logid:zz) Seq 9-9:x vm xi-2-5-VM i-2-5-VMx _r-4-VM v-9-VM.",
    "2012-03-01 14:02:12,003 TRACE   [x.y] (t:a) b) (logid:abc)Seq 1-2: i-1234567890-123456789-VM i-1-1-VM",
    "2012-03-01 14:02:12,004 INFO  [x] (t:n)  two spaces, Seq 12: Seq 1-: Seq -1: Seq 1-2:",
]
CONTINUATIONS = [
    "\tat com.cloud.agent.Agent.processRequest(Agent.java:539)",
    "Caused by: java.lang.NullPointerException",
    "java.lang.IndexOutOfBoundsException: Index: 1, Size: 1 i-3-7-VM",
    "  wrapped text i-9-9-VM",
    "2012-03-01 14:02:11 not a header",
    "2012-03-01 14:02:11,102 DEBUG [no closing paren (t:x",
    "2012-03-01 14:02:11,102 NOTE  [a] (b:c) not a level",
    "<disk type='file' device='disk'>",
    "",
]
# Lines the fast path leaves to the reader's own code, without handing the file over.
SPECIAL = [
    "Agent started.  PID: 1",
    "Restarting agent",
    "INFO  [cloud.agent.AgentShell] (main:) Implementation Version is 2.2.14",
]


def _text(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def test_bundled_log4j_format_is_the_one_implemented(patterns: Patterns) -> None:
    spec = next(f for f in patterns.formats if f.id == "log4j")
    assert spec.regex.pattern == LOG4J_PATTERN


def test_every_era_with_traces_and_runner_lines(tmp_path: Path, patterns: Patterns) -> None:
    lines = []
    for i, h in enumerate(HEADERS * 3):
        lines.append(h)
        lines.extend(CONTINUATIONS[: i % len(CONTINUATIONS)])
        if i % 5 == 4:
            lines.append(SPECIAL[i % len(SPECIAL)])
    lf = _file(tmp_path, "agent.log", _text(lines))
    r = compare(lf, patterns)
    assert r.handoff is None and r.fast_records > len(HEADERS) and r.slow_records > 0


@pytest.mark.parametrize("block", [64, 333, 4096])
def test_small_blocks_carry_open_records(tmp_path: Path, patterns: Patterns, block: int) -> None:
    lines = []
    for i, h in enumerate(HEADERS * 4):
        lines += [h, *CONTINUATIONS[: i % 4]]
    lf = _file(tmp_path, "management-server.log", _text(lines), "mgmt01")
    r = compare(lf, patterns, block)
    assert r.handoff is None and r.fast_records == r.stats.records > len(HEADERS) * 3


def test_orphans_first_and_no_final_newline(tmp_path: Path, patterns: Patterns) -> None:
    data = _text(["\tat pasted.Mid(Trace.java:1)", "Caused by: x", *HEADERS[:3]])[:-1]
    r = compare(_file(tmp_path, "agent.log", data), patterns)
    assert r.handoff is None and r.fast_records == 3


@pytest.mark.parametrize("case", ["crlf", "latin1", "journald"])
def test_handoff_to_the_reader_gives_the_same_records(tmp_path: Path, patterns: Patterns, case: str) -> None:
    lines = [x for h in HEADERS for x in (h, CONTINUATIONS[0])]
    data = _text(lines)
    if case == "crlf":
        data = data[: len(data) // 2] + data[len(data) // 2:].replace(b"\n", b"\r\n")
    elif case == "latin1":
        data = data.replace(b"Exception ", b"Exception caf\xe9 ")
    elif case == "journald":
        data = b"".join(b"Aug  7 14:02:11 kvm01 java[1]: " + x + b"\n" for x in data.splitlines())
    r = compare(_file(tmp_path, "agent.log", data), patterns, 512)
    assert r.handoff is not None and r.slow_records > 0
    if case in ("crlf", "latin1"):  # the blocks before the damage stay on the fast path
        assert r.fast_records > 0


def test_non_ascii_text_and_50kb_json_line(tmp_path: Path, patterns: Patterns) -> None:
    big = '{"vols":[' + ",".join(f'{{"id":{i},"path":"/mnt/x/{i}","vm":"i-2-{i}-VM"}}' for i in range(1100)) + "]}"
    assert len(big) > 50_000
    lines = [
        HEADERS[1] + " caf\u00e9 Seq\u0661 1-2: \u00e9Seq 3-4: Seq 5-\u0666: i-\u0661-2-VM r-4-VM",
        "  \u2028 wrapped caf\u00e9 i-9-9-VM",
        "2012-03-01 14:02:12,000 DEBUG [cloud.agent.Agent] (agentRequest-Handler-1:null) Request:Seq 1-2:  " + big,
        *HEADERS,
    ]
    r = compare(_file(tmp_path, "agent.log", _text(lines)), patterns)
    assert r.handoff is None


def test_gzip_rotated_and_byte_range(tmp_path: Path, patterns: Patterns) -> None:
    data = _text([x for h in HEADERS * 20 for x in (h, CONTINUATIONS[0])])
    compare(_file(tmp_path, "agent.log.2013-08-01.gz", gzip.compress(data)), patterns, 1000)
    lf = _file(tmp_path, "agent.log", data)
    cut = data.index(HEADERS[0].encode(), 5000)
    s1 = FileStats(lf.source, lf.host, lf.role)
    s2 = FileStats(lf.source, lf.host, lf.role)
    schema = record_arrow_schema()
    want = pa.Table.from_batches(list(records_to_batches(iter_file_records(
        lf, patterns, s1, start=cut, length=4000, first_line=77))), schema=schema)
    got = pa.Table.from_batches(list(iter_file_batches(
        lf, patterns, s2, start=cut, length=4000, first_line=77, block=512)), schema=schema)
    assert want.equals(got) and _stats(s1) == _stats(s2)


def test_user_format_in_front_turns_the_fast_path_off(tmp_path: Path, user_format: Callable[..., Patterns]) -> None:
    patterns = user_format(priority=50)
    lf = _file(tmp_path, "agent.log", _text([HEADERS[0], "2012-03-01 14:02:11,102 MINE x", HEADERS[1]]))
    reader = RecordReader(lf, patterns, FileStats(lf.source, lf.host, lf.role))
    assert not eligible(reader, "utf-8")
    r = compare(lf, patterns)
    assert r.fast_records == 0 and r.handoff == "not eligible"


def test_every_sample_log(patterns: Patterns) -> None:
    fast = 0
    for lf in as_logfiles([ROOT / "sample_logs"]):
        fast += compare(lf, patterns).fast_records
    assert fast > 100_000


_LINES = HEADERS + CONTINUATIONS + SPECIAL + ["Seq 1-2: i-2-5-VM", "\u00e9", "2012-03-01 14:02:11,102 INFO  [a] (b"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.sampled_from(_LINES), max_size=60), block=st.integers(16, 3000),
       tail=st.sampled_from([b"", b"\n", b"x", b"\n\n"]), noise=st.binary(max_size=40))
def test_property_same_records_as_the_reader(tmp_path_factory: pytest.TempPathFactory, patterns: Patterns,
                                             lines: list[str], block: int, tail: bytes, noise: bytes) -> None:
    data = _text(lines) + tail
    if noise and len(lines) > 3:  # arbitrary bytes in the middle (CR, NUL, bad UTF-8 …)
        mid = len(data) // 2
        data = data[:mid] + noise + data[mid:]
    lf = _file(tmp_path_factory.mktemp("c"), "agent.log", data)
    compare(lf, patterns, block)


@pytest.mark.parametrize("flt", [
    {"level": "WARN"}, {"since": "2012-03-01T14:02:12"}, {"until": "2013"},
    {"since": "2012-03-01T14:02:11.200", "until": "2021", "level": "DEBUG"}, {"since": "2030"},
])
def test_filters_keep_the_same_rows(tmp_path: Path, patterns: Patterns, flt: dict[str, str]) -> None:
    from logparse.pipeline import RecordFilter

    lines = ["orphan first", *[x for i, h in enumerate(HEADERS) for x in (h, *SPECIAL[: i % 3])]]
    lf = _file(tmp_path, "agent.log", _text(lines))
    rf = RecordFilter(**flt)
    schema = record_arrow_schema()
    st = FileStats(lf.source, lf.host, lf.role)
    want = pa.Table.from_batches(list(records_to_batches(rf.apply(iter_file_records(lf, patterns, st)))),
                                 schema=schema)
    got = pa.Table.from_batches(list(rf.apply_batches(iter_file_batches(lf, patterns, st, block=700))),
                                schema=schema)
    assert want.equals(got)
    assert 0 < got.num_rows < st.records + st.orphans or flt == {"since": "2030"}


def test_truncated_gzip_and_empty_file(tmp_path: Path, patterns: Patterns) -> None:
    data = gzip.compress(_text([x for h in HEADERS * 30 for x in (h, CONTINUATIONS[0])]))
    r = compare(_file(tmp_path, "agent.log.2013-08-02.gz", data[: len(data) * 2 // 3]), patterns, 2048)
    assert r.stats.warnings and r.fast_records > 0
    r = compare(_file(tmp_path, "agent.log", b""), patterns)
    assert r.stats.lines == 0 and r.handoff is None


def test_parse_cli_parquet_from_stdin(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from logparse.cli import cli

    data = _text([x for h in HEADERS for x in (h, CONTINUATIONS[1])])
    out = tmp_path / "s.parquet"
    res = runner.invoke(cli, ["parse", "-", "-q", "-f", "parquet", "-o", str(out)], input=data)
    assert res.exit_code == 0, res.output
    lf = _file(tmp_path, "agent.log", data)
    st = FileStats(lf.source, lf.host, lf.role)
    want = [r.message for r in iter_file_records(lf, load_patterns(), st)]
    import pyarrow.parquet as pq

    assert pq.read_table(out).column("message").to_pylist() == want


@pytest.mark.parametrize("zone", ["Europe/Madrid", "America/Sao_Paulo", "UTC"])
def test_tz_to_utc_across_dst_changes(tmp_path: Path, patterns: Patterns, zone: str) -> None:
    stamps = ["2013-03-31 01:59:59,999", "2013-03-31 02:30:00,001", "2013-03-31 03:00:00,500",
              "2013-10-27 02:30:00,250", "2013-10-27 02:30:00,250", "2013-10-27 03:00:01,000",
              "2012-02-25 23:59:59,999", "2013-12-31T23:59:59.999"]
    lines = [f"{t} INFO  [cloud.agent.Agent] (main:null) tick {i} Seq 1-{i}: i-2-{i}-VM" for i, t in enumerate(stamps)]
    lines.insert(3, SPECIAL[2])  # a console line: no timestamp to convert
    tz = TimeShift({"*": zone})
    r = compare(_file(tmp_path, "agent.log", _text(lines * 3)), patterns, 700, tz)
    assert r.handoff is None and r.fast_records == len(stamps) * 3


def test_block_buffer_is_reused_only_when_nothing_holds_it(patterns: Patterns) -> None:
    """Each block goes into the last block's buffer (no fresh pages per block), unless a
    view of it is still alive: then a new buffer, and the view keeps its bytes."""
    import numpy as np

    lf = LogFile(Path("x.log"), "x.log", "h", "management")
    cr = ColumnarReader(lf, patterns, FileStats(lf.source, lf.host, lf.role))
    first, size = cr._next_block(b"ab", iter([b"cd\n"]))
    assert bytes(first) == b"abcd\n" + bytes(64) and size == 5
    second, _ = cr._next_block(b"", iter([b"longer line\n"]))
    assert second is first and bytes(second) == b"longer line\n" + bytes(64)
    view = np.frombuffer(second, np.uint8)
    third, _ = cr._next_block(b"x", iter([b"\n"]))
    assert third is not second and bytes(third) == b"x\n" + bytes(64)
    assert view[:12].tobytes() == b"longer line\n"


def test_plain_file_blocks_are_read_into_the_buffer(tmp_path: Path, patterns: Patterns) -> None:
    """A plain file's chunks land in the block buffer after the carry, with the zero
    padding right after them (also for the short last one), within a byte range."""
    from logparse.sources import open_plain

    f = tmp_path / "agent.log"
    f.write_bytes(b"0123456789abcdefghij")
    lf = LogFile(f, str(f), "h", "agent")
    cr = ColumnarReader(lf, patterns, FileStats(lf.source, lf.host, lf.role))
    src = open_plain(lf, start=2, length=15, chunk=8)
    assert src is not None
    got = []
    carry = b"C"
    while True:
        data, size = cr._next_block(carry, src)
        if size == len(carry):
            break
        assert bytes(data) == carry + bytes(data[len(carry):size]) + bytes(64) and len(data) == size + 64
        got.append(bytes(data[len(carry):size]))
    src.close()
    assert got == [b"23456789", b"abcdefg"]
    gz = tmp_path / "x.log.gz"
    gz.write_bytes(gzip.compress(b"x\n"))
    assert open_plain(LogFile(gz, str(gz), "h", "agent")) is None


@given(st.lists(st.integers(-5, 5), max_size=30))
def test_unique_equals_numpys(values: list[int]) -> None:
    import numpy as np

    from logparse.columnar import _unique

    x = np.array(values, np.int64)
    assert _unique(x).tolist() == np.unique(x).tolist()


def test_json_lines_with_escapes_inside_header_fields(tmp_path: Path, patterns: Patterns) -> None:
    """Quotes, tabs and backslashes in the logger, thread and NDC (before the message): the
    JSON offsets of those rows are searched, not moved by the row's count."""
    lines = [
        '2013-08-07 14:02:11,110 DEBUG [a"b.C] (t\\x:job-1) msg "q" and \\ more',
        "2013-08-07 14:02:11,111 INFO  [c.D] (Job-Executor-1\t2:job-2 = [ x\"y ]) Seq 1-22: i-2-5-VM \"z\"",
        "\tat com.cloud.X.y(X.java:1)",
        '2013-08-07 14:02:11,112 WARN  [e.F] (a:null) (logid:abc) plain "quoted" \x01 text',
        "2013-08-07 14:02:11,113 ERROR [g.H] (b:null) no escapes at all",
    ]
    lf = _file(tmp_path, "management-server.log", _text(lines * 3))
    r = compare(lf, patterns, 64)
    assert r.fast_records == 12


def test_a_record_longer_than_the_carry_limit_goes_to_the_reader_and_says_so(
        tmp_path: Path, patterns: Patterns, monkeypatch: pytest.MonkeyPatch) -> None:
    import logparse.columnar as columnar

    monkeypatch.setattr(columnar, "MAX_CARRY", 2000)
    lines = [HEADERS[0], *["\tat x.y(Z.java:1) " + "q" * 200] * 30, HEADERS[1], "w" * 5000, HEADERS[0]]
    lf = _file(tmp_path, "agent.log", _text(lines))
    r = compare(lf, patterns, 512)
    assert r.handoff is not None and r.handoff.startswith("a record of more than")
