"""Shared fixtures: a CliRunner, the bundled patterns (loaded once), small log builders."""

from __future__ import annotations

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


def fixture_path(name: str) -> Path:
    return FIXTURES / name
