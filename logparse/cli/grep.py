"""``logparse grep``: whole records, time-merged across files and hosts, ``--follow`` ids."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from ..grep import (
    DEFAULT_TIMEOUT,
    GrepHit,
    GrepQuery,
    GrepStats,
    format_summary,
    iter_grep,
    parse_job,
    parse_logid,
    parse_seq,
)
from ..output import open_output
from ..records import TimeShift
from ..redact import redact
from ..sources import LogFile
from .common import (
    filter_options,
    handle_errors,
    input_options,
    load_inputs,
    make_filter,
    output_options,
    parse_tz,
)


@contextlib.contextmanager
def _spooled_stdin(files: list[LogFile]) -> Iterator[list[LogFile]]:
    """``--follow`` reads inputs twice: copy stdin to a temporary file first."""
    if all(lf.path is not None for lf in files):
        yield files
        return
    fd, tmp = tempfile.mkstemp(prefix="logparse-grep-", suffix=".stdin")
    try:
        with os.fdopen(fd, "wb") as fp, click.open_file("-", "rb") as src:
            shutil.copyfileobj(src, fp)
        yield [dataclasses.replace(lf, path=Path(tmp)) if lf.path is None else lf for lf in files]
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _header(hit: GrepHit, color: bool) -> str:
    rec = hit.record
    via = "" if hit.link == "match" else f" ({hit.link})"
    text = f"==> {rec.host} {rec.source}:{rec.line} [{hit.timestamp or '-'}]{via} <=="
    if color:
        return click.style(text, fg="cyan" if hit.link == "match" else "yellow", bold=hit.link == "match")
    return text


def _write_text(out: IO[str], hit: GrepHit, first: bool, do_redact: bool, color: bool) -> None:
    text = hit.record.text
    if do_redact:
        text = redact(text)
    if not first:
        out.write("\n")
    out.write(_header(hit, color))
    out.write("\n")
    out.write(text)
    out.write("\n")


def _write_jsonl(out: IO[str], hit: GrepHit, do_redact: bool) -> None:
    row: dict[str, Any] = hit.record.as_dict()
    if do_redact:
        row["text"] = redact(row["text"])
        row["message"] = redact(row["message"])
    row["link"] = hit.link
    out.write(json.dumps(row, ensure_ascii=False, default=str))
    out.write("\n")


def _split(values: tuple[str, ...]) -> list[str]:
    """Repeatable options also take comma-separated lists: ``--job 61,62``."""
    return [p for v in values for p in v.split(",") if p.strip()]


@click.command(name="grep")
@click.argument("pattern")
@input_options
@filter_options
@output_options(formats=("text", "jsonl"), default="text")
@click.option("--vm", "vms", multiple=True, metavar="NAME",
              help="Only records naming this instance (i-2-5-VM). Repeatable (ORed).")
@click.option("--job", "jobs", multiple=True, metavar="N",
              help="Only records of async job N (123 or job-123). Repeatable (ORed).")
@click.option("--logid", "logids", multiple=True, metavar="X",
              help="Only records with this logid (4.7+, e.g. fc577e10). Repeatable (ORed).")
@click.option("--seq", "seqs", multiple=True, metavar="H-N",
              help="Only records of agent command Seq H-N (3-1493630987). Repeatable (ORed).")
@click.option("--follow", is_flag=True,
              help="Add linked records: the VM's jobs, their records, their agent commands (both sides), "
                   "the agent handler thread while it ran them, their logids and ctx ids — to a fixpoint.")
@click.option("-C", "--context", type=click.IntRange(0, 1000), default=0, show_default=True, metavar="N",
              help="Also show N records before and after each match on the same file and thread.")
@click.option("-i", "--ignore-case", is_flag=True, help="Case-insensitive match.")
@click.option("-F", "--fixed-strings", is_flag=True, help="PATTERN is a plain string, not a regex.")
@click.option("--no-redact", is_flag=True,
              help="Show secrets (apikey, signature, passwords, private keys, cookies) instead of ***.")
@click.option("--regex-timeout", type=click.FloatRange(0.001, 3600), default=DEFAULT_TIMEOUT,
              show_default=True, metavar="SECONDS",
              help="Give up when PATTERN runs longer than this on one record (catastrophic backtracking).")
@click.option("-q", "--quiet", is_flag=True, help="No summary or warnings on stderr.")
@click.pass_context
@handle_errors
def grep(ctx: click.Context, pattern: str, paths: tuple[Path, ...], pattern_dirs: tuple[Path, ...],
         host_map: tuple[str, ...], tz: tuple[str, ...], encoding: str, since: str | None,
         until: str | None, level: str | None, fmt: str, output: str, vms: tuple[str, ...],
         jobs: tuple[str, ...], logids: tuple[str, ...], seqs: tuple[str, ...], follow: bool,
         context: int, ignore_case: bool, fixed_strings: bool, no_redact: bool,
         regex_timeout: float, quiet: bool) -> None:
    """Show whole records matching PATTERN, merged in time order across files and hosts.

    PATTERN is a regular expression searched in the whole record (a stack trace is one
    record; ^ and $ match at each of its lines); "" or "." match every record. --vm,
    --job, --logid and --seq select by id, ANDed with PATTERN. --follow adds the records
    linked to the matches (stderr says how many each link added). Secrets are masked
    unless --no-redact. Exit status 1 when nothing matched, as grep.

    \b
    Example:
        logparse grep "" sample_logs/upgrade-2.2.14 --vm i-2-5-VM --follow
        logparse grep 'Caught: ' sample_logs/ -C 2 -f jsonl
    """
    query = GrepQuery(
        pattern=pattern,
        ignore_case=ignore_case,
        fixed_strings=fixed_strings,
        vms=tuple(_split(vms)),
        jobs=tuple(parse_job(j) for j in _split(jobs)),
        logids=tuple(parse_logid(x) for x in _split(logids)),
        seqs=tuple(parse_seq(s) for s in _split(seqs)),
        timeout=regex_timeout,
    )
    patterns, files = load_inputs(paths, pattern_dirs, host_map)
    zones = parse_tz(tz)
    timeshift = TimeShift(zones) if zones else None
    stats = GrepStats()
    fmt = fmt.lower()
    color = (fmt == "text" and output == "-" and sys.stdout.isatty()
             and not os.environ.get("NO_COLOR"))
    with _spooled_stdin(files) if follow else contextlib.nullcontext(files) as inputs:
        hits = iter_grep(inputs, query, patterns, timeshift=timeshift,
                         rfilter=make_filter(since, until, level), follow=follow,
                         context=context, encoding=encoding, stats=stats)
        with open_output(output) as out:
            first = True
            for hit in hits:
                if fmt == "jsonl":
                    _write_jsonl(out, hit, not no_redact)
                else:
                    _write_text(out, hit, first, not no_redact, color)
                first = False
    if not quiet:
        for fs in stats.files:
            for w in fs.warnings:
                click.echo(f"warning: {w}", err=True)
        if stats.out_of_order:
            click.echo(f"warning: {stats.out_of_order:,} records have a timestamp earlier than the record "
                       f"before them in their file (first: {stats.first_out_of_order}); they are shown "
                       "in file order", err=True)
        if follow or context:
            click.echo(format_summary(stats), err=True)
    if stats.matched == 0:
        ctx.exit(1)
