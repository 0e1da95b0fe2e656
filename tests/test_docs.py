"""Documentation stays true: every command has help and is in the README, quick starts run."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from logparse.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SAMPLES = ROOT / "sample_logs"


def _top() -> dict[str, click.Command]:
    """Every command of the (lazily loading) group."""
    ctx = click.Context(cli)
    return {n: cli.get_command(ctx, n) for n in cli.list_commands(ctx)}  # type: ignore[misc]


def _commands() -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in sorted(_top().items()):
        out.append((name, cmd))
        if isinstance(cmd, click.Group):
            out.extend((f"{name} {sub}", c) for sub, c in sorted(cmd.commands.items()))
    return out


@pytest.mark.parametrize(("name", "cmd"), _commands(), ids=[n for n, _ in _commands()])
def test_every_command_has_help_with_an_example(name: str, cmd: click.Command) -> None:
    assert cmd.help and cmd.help.strip().splitlines()[0], name
    if not isinstance(cmd, click.Group):
        assert "Example:" in cmd.help, name
        for p in cmd.params:
            if isinstance(p, click.Option):
                assert p.help, f"{name} {p.opts}"


@pytest.mark.parametrize("name", sorted(_top()))
def test_every_command_is_in_the_readme(name: str) -> None:
    assert re.search(rf"`logparse {name}\b", README), name


def test_lazy_group_lists_every_command_module() -> None:
    """A command module added without an entry in the lazy group would be unreachable."""
    mods = {p.stem for p in (ROOT / "logparse" / "cli").glob("*.py")} - {"__init__", "common"}
    from logparse.cli import _COMMANDS

    assert {m for m, _ in _COMMANDS.values()} == mods
    assert all(c is not None and c.name == n for n, c in _top().items())


def test_readme_first_screen_has_the_two_commands() -> None:
    first = "\n".join(README.splitlines()[:30])
    assert "pip install -e '.[test]'" in first and "logparse report sample_logs/upgrade-2.2.14 -o report/" in first
    assert "python -m pytest -q" in first
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in ci and "python -m pytest -q" in ci


def test_readme_main_command_runs(runner: CliRunner, tmp_path: Path) -> None:
    # The PNG half needs Chromium and is covered by the browser test.
    r = runner.invoke(cli, ["report", str(SAMPLES / "upgrade-2.2.14"), "-o", str(tmp_path / "report"),
                            "--no-images", "-j", "1"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    md = (tmp_path / "report" / "report.md").read_text()
    assert "not in device-id order" in md


SMOKE = [
    ("parse", ("table", "csv", "json", "jsonl", "parquet")),
    ("traces", ("table", "csv", "json", "jsonl")),
    ("events", ("table", "csv", "json", "jsonl")),
    ("commands", ("table", "csv", "json", "jsonl")),
    ("vms", ("table", "csv", "json", "jsonl", "parquet")),
    ("diagnose", ("text", "markdown", "json")),
]


@pytest.mark.parametrize(("command", "formats"), SMOKE, ids=[c for c, _ in SMOKE])
def test_every_command_runs_on_the_samples(runner: CliRunner, tmp_path: Path, command: str,
                                           formats: tuple[str, ...]) -> None:
    for fmt in formats:
        out = tmp_path / f"{command}.{fmt}"
        # Record-level commands on one host's logs; the correlating ones on the whole bundle.
        path = SAMPLES / "null-device-4x" / ("kvm02" if command in ("parse", "traces", "events") else "")
        args = [command, str(path), "-f", fmt, "-o", str(out)]
        if command in ("parse", "vms", "diagnose"):
            args += ["-j", "1"]
        r = runner.invoke(cli, args, catch_exceptions=False)
        assert r.exit_code == 0, (fmt, r.output)
        assert out.stat().st_size > 0


def test_samples_parse_without_unexplained_orphans() -> None:
    from logparse.models import FileStats
    from logparse.records import iter_records

    stats: list[FileStats] = []
    orphans = [r for r in iter_records([SAMPLES], stats=stats) if r.kind == "orphan"]
    assert all(s.balanced for s in stats)
    assert all(r.text.startswith("Agent started.  PID: ") for r in orphans)
