"""Shared fixtures: a CliRunner, the bundled patterns (loaded once), small log builders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from logparse.patterns import Patterns, load_patterns

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_LOGS = ROOT / "sample_logs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def patterns() -> Patterns:
    return load_patterns()


@pytest.fixture
def user_format(tmp_path: Path) -> Callable[..., Patterns]:
    """The bundled patterns plus a user's pattern directory with one format, ``mine``:
    a log4j timestamp, ``MINE``, then the message (``priority``: tried before the others)."""

    def load(priority: int = 0) -> Patterns:
        pdir = tmp_path / "user-patterns"
        pdir.mkdir(exist_ok=True)
        (pdir / "mine.toml").write_text(f"""schema_version = 1
[[formats]]
id = "mine"
title = "a user's layout"
priority = {priority}
regex = '^(?P<timestamp>\\d{{4}}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d,\\d{{3}}) MINE (?P<message>.*)$'
timestamp = "log4j"
[[formats.samples]]
line = "2012-03-01 14:02:11,102 MINE x"
expect = {{ message = "x" }}
""")
        return load_patterns([pdir])

    return load


def fixture_path(name: str) -> Path:
    return FIXTURES / name
