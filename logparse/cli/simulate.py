"""``logparse simulate``: realistic CloudStack incident logs of any size, with ground truth."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import click

from ..errors import LogparseError
from ..simulate import SCENARIOS, generate, parse_size

_MIB = 1024 * 1024


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """``--size``: ``500MB``, ``1GB``, ``200k`` or plain bytes (1024-based units)."""
    if value is None:
        return None
    try:
        return parse_size(value)
    except LogparseError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from e


def _replace_dir(new: Path, target: Path) -> None:
    """Move the finished tree ``new`` to ``target``; an old ``target`` is removed afterwards."""
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        old.rmdir()
        target.rename(old)
        new.rename(target)
        shutil.rmtree(old)
    else:
        new.rename(target)


@click.command(name="simulate")
@click.argument("scenario", type=click.Choice(list(SCENARIOS)))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the bundle into (created; must be empty unless --force).",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Random seed; the same seed gives byte-identical files.",
)
@click.option(
    "--size",
    metavar="SIZE",
    callback=_size,
    default=None,
    help="Grow the background noise until the logs total about SIZE uncompressed "
    "(500MB, 1GB, 200k or bytes; units are 1024-based).",
)
@click.option(
    "--hosts",
    type=click.IntRange(1, 99),
    default=3,
    show_default=True,
    help="Number of KVM hosts (kvm01, kvm02, ...).",
)
@click.option(
    "--vms", type=click.IntRange(1, 2000), default=45, show_default=True, help="Number of user VMs."
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists and is not empty.")
def simulate(
    scenario: str, output: Path, seed: int, size: int | None, hosts: int, vms: int, force: bool
) -> None:
    """Write realistic CloudStack logs of a known incident, with ground truth.

    SCENARIO is upgrade-2.2.14 (the 2013 upgrade that broke VMs whose disks were attached
    out of creation order), null-device-4x (4.15 VMs with a NULL volume device id) or
    baseline (a healthy 2.2.13 cluster). The tree looks like a support bundle:
    ms1/var/log/.../management-server.log (rotated daily, older days .gz), one agent.log per
    KVM host, libvirt qemu logs, and ground_truth.json listing every VM, start attempt and
    event. The bundle is written to a temporary directory and renamed into place, so OUTPUT
    is either complete or untouched.

    \b
    Example:
      logparse simulate upgrade-2.2.14 -o sample_logs/upgrade-2.2.14 --seed 1 --force
      logparse simulate baseline -o /tmp/big --size 1GB
    """
    output = output.absolute()
    if output.exists():
        if not output.is_dir():
            raise click.ClickException(f"{output} exists and is not a directory")
        if any(output.iterdir()) and not force:
            raise click.ClickException(f"{output} is not empty; use --force to replace it")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    except OSError as e:
        raise click.ClickException(f"cannot create {output}: {e.strerror or e}") from e
    start = time.perf_counter()
    try:
        result = generate(scenario, tmp, seed=seed, size=size, hosts=hosts, vms=vms)
        _replace_dir(tmp, output)
    except LogparseError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise click.ClickException(str(e)) from e
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise click.ClickException(f"cannot write {output}: {e.strerror or e}") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = time.perf_counter() - start
    mib = result.uncompressed_bytes / _MIB
    click.echo(
        f"simulate: {scenario} seed {seed}: {result.files} files, {mib:.1f} MiB uncompressed "
        f"({result.disk_bytes / _MIB:.1f} MiB on disk) in {seconds:.2f} s, "
        f"{mib / max(seconds, 1e-9):.1f} MiB/s -> {output}",
        err=True,
    )
