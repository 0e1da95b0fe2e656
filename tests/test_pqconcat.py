"""``pqconcat``: Parquet parts joined as bytes read back as the tables they held."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from logparse.output import parquet_options
from logparse.pqconcat import ParquetMergeError, _Reader, _Writer, concat


def _table(n: int, start: int = 0) -> pa.Table:
    rows = range(start, start + n)
    return pa.table({
        "line": pa.array(list(rows), pa.int64()),
        "level": pa.array(["DEBUG" if i % 3 else "ERROR" for i in rows], pa.string()),
        "message": pa.array([f"message {i} " + "x" * (i % 50) for i in rows], pa.string()),
        "jobs": pa.array([[i, i + 1] if i % 2 else [] for i in rows], pa.list_(pa.int64())),
        "logid": pa.array([None if i % 4 else f"{i:08x}" for i in rows], pa.string()),
    })


def _write(path: Path, t: pa.Table, group: int) -> str:
    with pq.ParquetWriter(path, t.schema, **parquet_options(t.schema.names)) as w:
        for i in range(0, t.num_rows, group):
            w.write_table(t.slice(i, group))
        if not t.num_rows:
            w.write_table(t)
    return str(path)


def test_footer_round_trips_byte_for_byte(tmp_path: Path) -> None:
    p = _write(tmp_path / "a.parquet", _table(1000), 100)
    data = Path(p).read_bytes()
    n = int.from_bytes(data[-8:-4], "little")
    w = _Writer()
    w.struct(_Reader(data[-8 - n:-8]).struct())
    assert bytes(w.out) == data[-8 - n:-8]


def test_parts_join_into_one_file(tmp_path: Path) -> None:
    sizes = [(700, 64), (0, 10), (3, 1), (2000, 100)]  # 20 row groups: a long thrift list
    tables, parts, start = [], [], 0
    for i, (n, group) in enumerate(sizes):
        t = _table(n, start)
        start += n
        tables.append(t)
        parts.append(_write(tmp_path / f"p{i}.parquet", t, group))
    out = tmp_path / "all.parquet"
    with open(out, "wb") as fp:
        assert concat(parts, fp) == start
    want = pa.concat_tables(tables)
    assert pq.read_table(out).equals(want)
    md = pq.ParquetFile(out).metadata
    assert md.num_rows == start and md.num_row_groups == 11 + 1 + 3 + 20
    # Statistics and offsets still serve row-group pruning.
    got = ds.dataset(out).to_table(filter=ds.field("line") >= 2500)
    assert got.equals(want.filter(pa.compute.greater_equal(want["line"], 2500)))


def test_a_part_that_is_not_parquet(tmp_path: Path) -> None:
    good = _write(tmp_path / "a.parquet", _table(10), 5)
    bad = tmp_path / "b.parquet"
    bad.write_bytes(b"PAR1 not really")
    with open(tmp_path / "out.parquet", "wb") as fp, pytest.raises(ParquetMergeError):
        concat([good, str(bad)], fp)
