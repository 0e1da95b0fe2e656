"""``logparse patterns list|check``."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import PatternError
from ..output import write_rows
from ..patterns import load_patterns
from .common import handle_errors, output_options


@click.group(name="patterns")
def patterns_group() -> None:
    """List loaded patterns or check pattern files against their samples."""


@patterns_group.command(name="list")
@click.option("--patterns", "pattern_dirs", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Extra pattern directory. Repeatable.")
@output_options(formats=("table", "csv", "json", "jsonl"))
@handle_errors
def patterns_list(pattern_dirs: tuple[Path, ...], fmt: str, output: str) -> None:
    """List header formats and event patterns with their files.

    \b
    Example:
        logparse patterns list -f csv
    """
    p = load_patterns(pattern_dirs)
    rows = [{"kind": "format", "id": f.id, "title": f.title, "samples": len(f.samples), "file": f.file}
            for f in p.formats]
    rows += [{"kind": "event", "id": e.id, "title": e.title, "samples": len(e.samples), "file": e.file}
             for e in p.events]
    write_rows(rows, ("kind", "id", "samples", "title", "file"), fmt, output)


@patterns_group.command(name="check")
@click.argument("dirs", nargs=-1, type=click.Path(exists=True, path_type=Path))
@handle_errors
def patterns_check(dirs: tuple[Path, ...]) -> None:
    """Validate pattern files: keys, regexes, and every sample through the real parser.

    With DIR, checks DIR together with the bundled set (ids must stay unique).

    \b
    Example:
        logparse patterns check my-patterns/
    """
    from ..patterncheck import check_patterns

    p = load_patterns(dirs)
    problems = check_patterns(p)
    n_samples = sum(len(f.samples) for f in p.formats) + sum(len(e.samples) for e in p.events)
    if problems:
        for line in problems:
            click.echo(f"error: {line}", err=True)
        raise PatternError(f"{len(problems)} pattern sample(s) failed")
    click.echo(f"ok: {len(p.formats)} formats, {len(p.events)} events, {n_samples} samples checked", err=True)
