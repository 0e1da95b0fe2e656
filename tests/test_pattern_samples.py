"""Every sample of every bundled format and event is a test (STYLE §2.3, §2.8).

The same checking function as ``logparse patterns check`` runs per sample, so a failing
item reads ``vm.start_failed[2]`` and its message names the file and the sample index.
The loader's failure modes are covered by ``tests/fixtures/bad_patterns/*.toml``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from logparse.errors import PatternError
from logparse.patterncheck import SampleCase, check_patterns, check_sample, iter_sample_cases
from logparse.patterns import Patterns, load_patterns

BAD = Path(__file__).resolve().parent / "fixtures" / "bad_patterns"

_BUNDLED = load_patterns()
_CASES = list(iter_sample_cases(_BUNDLED))


@pytest.mark.parametrize("case", _CASES, ids=[c.id for c in _CASES])
def test_pattern_sample(case: SampleCase) -> None:
    problems = check_sample(_BUNDLED, case)
    assert not problems, "\n".join(problems)


def test_every_entry_has_a_sample() -> None:
    with_samples = {c.entry.id for c in _CASES if not c.negative}
    assert with_samples == {f.id for f in _BUNDLED.formats} | {e.id for e in _BUNDLED.events}


def test_check_patterns_bundled_is_clean(patterns: Patterns) -> None:
    assert check_patterns(patterns) == []


# --------------------------------------------------------------------------- loader failures

@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        pytest.param("no_samples.toml", "has no samples", id="no_samples"),
        pytest.param("invalid_regex.toml", "invalid regex", id="invalid_regex"),
        pytest.param("unknown_key.toml", "unknown key 'pattern'", id="unknown_key"),
        pytest.param("duplicate_id.toml", "duplicate id 'vm.twice'", id="duplicate_id"),
        pytest.param("missing_keywords.toml", "'keywords'", id="missing_keywords"),
        pytest.param("bad_cast.toml", "unknown cast 'integer'", id="bad_cast"),
    ],
)
def test_bad_pattern_file_is_rejected(name: str, fragment: str) -> None:
    path = BAD / name
    with pytest.raises(PatternError) as info:
        load_patterns([path], bundled=False)
    message = str(info.value)
    assert fragment in message
    assert name in message  # the error names the file


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        pytest.param(
            "ambiguous_sample.toml",
            ["vm.start_done: sample 1 is matched by more than one pattern: vm.start_done, vm.anything_completed"],
            id="ambiguous_sample",
        ),
        pytest.param(
            "sample_mismatch.toml",
            ["vm.start_done: sample 1: field 'vm_id': expected '5' (str), got 5 (int)"],
            id="sample_mismatch",
        ),
    ],
)
def test_bad_sample_fails_the_check(name: str, fragments: list[str]) -> None:
    pats = load_patterns([BAD / name], bundled=False)
    problems = check_patterns(pats)
    assert len(problems) == len(fragments), problems
    for frag, problem in zip(fragments, problems, strict=True):
        assert frag in problem
        assert name in problem


def test_every_bad_fixture_is_covered() -> None:
    covered = {
        "no_samples.toml", "invalid_regex.toml", "unknown_key.toml", "duplicate_id.toml",
        "missing_keywords.toml", "bad_cast.toml", "ambiguous_sample.toml", "sample_mismatch.toml",
    }
    assert {p.name for p in BAD.glob("*.toml")} == covered


def test_produced_nothing_message(tmp_path: Path) -> None:
    src = (BAD / "sample_mismatch.toml").read_text()
    bad = tmp_path / "events_none.toml"
    bad.write_text(src.replace("Start completed for VM VM[User|i-2-5-VM]'\nexpect = { vm_id",
                               "Stop completed for VM VM[User|i-2-5-VM]'\nexpect = { vm_id"))
    problems = check_patterns(load_patterns([bad], bundled=False))
    assert any(p.endswith("vm.start_done: sample 1 produced [] (expected vm.start_done)") for p in problems), problems


def test_non_match_that_matches_is_reported(tmp_path: Path) -> None:
    src = (BAD / "sample_mismatch.toml").read_text().replace('expect = { vm_id = "5" }', "expect = { vm_id = 5 }")
    src += (
        "\n[[events.non_matches]]\n"
        "line = '2012-03-01 14:02:13,000 DEBUG [cloud.vm.VirtualMachineManagerImpl] (Job-Executor-4:job-123) "
        "Start completed for VM VM[User|i-2-7-VM]'\n"
    )
    f = tmp_path / "nm.toml"
    f.write_text(src)
    problems = check_patterns(load_patterns([f], bundled=False))
    assert problems == [f"{problems[0].split(': ')[0]}: vm.start_done: non_match 1: line produces vm.start_done"]
