"""Input discovery: roles, hosts, rotation order."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import pytest

from logparse.errors import InputError
from logparse.sources import discover, infer_host, role_for


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("management-server.log", "management"),
        ("management-server.log.2013-08-05.gz", "management"),
        ("api-server.log", "management"),
        ("apilog.log.1", "management"),
        ("agent.log", "agent"),
        ("agent.log.2013-08-05.gz", "agent"),
        ("cloudstack-agent.out", "agent"),
        ("cloudstack-agent.err", "agent"),
        ("qemu/i-2-5-VM.log", "libvirt"),
        ("libvirtd.log", "libvirt"),
        ("ground_truth.json", None),
        ("README.md", None),
    ],
)
def test_role_for(path: str, role: str | None) -> None:
    assert role_for(Path("/x") / path) == role


@pytest.mark.parametrize(
    ("path", "host"),
    [
        ("bundle/kvm01/var/log/cloud/agent/agent.log", "kvm01"),
        ("kvm02/agent.log", "kvm02"),
        ("/srv/incident/ms1/var/log/cloudstack/management/management-server.log", "ms1"),
        ("kvm03/var/log/libvirt/qemu/i-2-5-VM.log", "kvm03"),
        ("/var/log/cloud/agent/agent.log", "localhost"),
    ],
)
def test_infer_host(path: str, host: str) -> None:
    assert infer_host(Path(path)) == host


def test_discover_orders_rotated_files_and_skips_unknown(tmp_path: Path) -> None:
    d = tmp_path / "kvm01" / "var" / "log" / "cloud" / "agent"
    d.mkdir(parents=True)
    for name in ("agent.log", "agent.log.2013-08-06.gz", "agent.log.2013-08-05.gz", "notes.txt"):
        (d / name).write_bytes(gzip.compress(b"x\n") if name.endswith(".gz") else b"x\n")
    m = tmp_path / "ms1" / "management"
    m.mkdir(parents=True)
    for name in ("management-server.log", "management-server.log.1", "management-server.log.2"):
        (m / name).write_text("x\n")
    files = discover([tmp_path])
    names = [(f.host, f.role, Path(f.source).name) for f in files]
    assert names == [
        ("kvm01", "agent", "agent.log.2013-08-05.gz"),
        ("kvm01", "agent", "agent.log.2013-08-06.gz"),
        ("kvm01", "agent", "agent.log"),
        ("ms1", "management", "management-server.log.2"),
        ("ms1", "management", "management-server.log.1"),
        ("ms1", "management", "management-server.log"),
    ]


def test_host_override(tmp_path: Path) -> None:
    d = tmp_path / "a" / "b"
    d.mkdir(parents=True)
    (d / "agent.log").write_text("x\n")
    files = discover([tmp_path], {"hypervisor7": str(tmp_path / "a")})
    assert files[0].host == "hypervisor7"


def test_explicit_unknown_file_is_kept_as_other(tmp_path: Path) -> None:
    p = tmp_path / "pasted.txt"
    p.write_text("x\n")
    assert discover([p])[0].role == "other"


def test_missing_and_empty_dir_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        discover([tmp_path / "nope"])
    with pytest.raises(InputError, match="no CloudStack logs found"):
        discover([tmp_path])


def test_compression_is_told_by_one_check_everywhere(tmp_path: Path) -> None:
    """``BZh`` without a block-size digit is text (the reader's rule); the splitting check
    says the same, so such a file is cut into pieces like any plain log."""
    from logparse.sources import is_compressed, splittable

    plain = tmp_path / "agent.log"
    plain.write_bytes(b"BZhello, a log line that happens to start like bzip2\n")
    bz = tmp_path / "agent.log.1"
    bz.write_bytes(bz2.compress(b"x\n"))
    assert not is_compressed(plain) and splittable(plain)
    assert is_compressed(bz) and not splittable(bz)
    assert not splittable(tmp_path)  # not a regular file
