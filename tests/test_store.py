"""The parsed Parquet store: commands read it in place of raw logs, without re-parsing."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from logparse.cli import cli
from logparse.models import FileStats
from logparse.records import StoreFilter, iter_records
from tests.cascade import write_cascade


def _store(runner: CliRunner, root: Path, tmp_path: Path) -> Path:
    store = tmp_path / "store.parquet"
    r = runner.invoke(cli, ["parse", str(root), "-f", "parquet", "-o", str(store)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return store


def test_grep_on_store_equals_grep_on_raw(runner: CliRunner, tmp_path: Path) -> None:
    root = write_cascade(tmp_path / "logs")
    store = _store(runner, root, tmp_path)
    for pattern, *opts in (["NullPointerException"], ["nullpointerexception", "-i"], ["Caught: ", "-C", "1"],
                           ["", "--vm", "i-2-5-VM", "--follow"]):
        raw = runner.invoke(cli, ["grep", pattern, str(root), *opts, "-f", "jsonl"], catch_exceptions=False)
        sto = runner.invoke(cli, ["grep", pattern, str(store), *opts, "-f", "jsonl"], catch_exceptions=False)
        args = [pattern, *opts]
        assert raw.exit_code == sto.exit_code == 0, (args, raw.output)
        assert raw.stdout == sto.stdout, args


def test_store_prefilter_keeps_line_accounting(runner: CliRunner, tmp_path: Path) -> None:
    root = write_cascade(tmp_path / "logs")
    store = _store(runner, root, tmp_path)
    full: list[FileStats] = []
    every = list(iter_records([store], stats=full))
    part: list[FileStats] = []
    some = list(iter_records([store], stats=part, prefilter=StoreFilter("IndexOutOfBounds")))
    assert [r.line for r in some] == [r.line for r in every if "IndexOutOfBounds" in r.text]
    assert (part[0].lines, part[0].records, part[0].continuation, part[0].orphans) == (
        full[0].lines, full[0].records, full[0].continuation, full[0].orphans)
    assert part[0].balanced


def test_diagnose_on_store_equals_raw(runner: CliRunner, tmp_path: Path) -> None:
    root = write_cascade(tmp_path / "logs")
    store = _store(runner, root, tmp_path)
    raw = runner.invoke(cli, ["diagnose", str(root), "-f", "json"], catch_exceptions=False).stdout
    sto = runner.invoke(cli, ["diagnose", str(store), "-f", "json"], catch_exceptions=False).stdout
    assert raw == sto
