#!/usr/bin/env python3
"""Speed and memory of logparse, measured beside `grep` on the same input in the same run.

Generates its inputs with `logparse simulate` (never committed; kept under bench-data/):
  * a ~200 MB single log file (the simulated incident's logs concatenated, decompressed),
  * a ~1 GB support bundle (`--big`), for `diagnose` and `report`, and its logs
    concatenated into one ~1 GB plain log, for `parse` over byte ranges.

Prints one row per measurement: seconds, MB/s, ratio to `grep -c` on the same input,
peak RSS of the process tree. Run:

    python benchmarks/bench.py            # 200 MB figures
    python benchmarks/bench.py --big 1GB  # plus parse over one 1 GB log, diagnose/report over a 1 GB bundle
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench-data"


def parse_size(s: str) -> int:
    s = s.strip().upper()
    for unit, mul in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if s.endswith(unit):
            return int(float(s[: -len(unit)]) * mul)
    return int(s)


def run(cmd: list[str]) -> tuple[float, int, int]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB of it and its children, exit code).

    Standard output goes to a pipe that is read and dropped: GNU grep stops at the first
    match when its output is /dev/null, which would make it look 100x faster.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    while proc.stdout.read(1 << 20):
        pass
    _, status, ru = os.wait4(proc.pid, 0)
    dt = time.perf_counter() - t0
    return dt, ru.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


REPEAT = 3

#: Single-process rows run on one core (``taskset -c 0``), so that a library's own helper
#: threads cannot lend them a second one.
ONE_CORE = ["taskset", "-c", "0"] if shutil.which("taskset") else []


def measure(cmd: list[str]) -> tuple[float, int, int]:
    """``run`` REPEAT times: the median time, the largest peak RSS, the last exit code."""
    runs = [run(cmd) for _ in range(REPEAT)]
    times = sorted(r[0] for r in runs)
    return times[len(times) // 2], max(r[1] for r in runs), runs[-1][2]


def measure_pair(one: list[str], two: list[str], output: Path | None = None,
                 ) -> tuple[tuple[float, int, int], tuple[float, int, int]]:
    """``measure`` of two commands, their runs alternated (one, two, one, two …): this
    machine's speed drifts by up to 10% over minutes, and a speed-up is a ratio of the two.

    ``output``, the file both write, is removed before each run, untimed: every run then
    writes a new file. Replacing the last run's store instead frees its blocks at the
    rename, serially: 0.02-0.16 s more for the ~270 MB store of 1 GB (measured), paid by
    whichever runs came after another."""
    runs: tuple[list[tuple[float, int, int]], list[tuple[float, int, int]]] = ([], [])
    for _ in range(REPEAT):
        for cmd, rs in zip((one, two), runs, strict=True):
            if output is not None:
                output.unlink(missing_ok=True)
            rs.append(run(cmd))

    def summary(rs: list[tuple[float, int, int]]) -> tuple[float, int, int]:
        times = sorted(r[0] for r in rs)
        return times[len(times) // 2], max(r[1] for r in rs), rs[-1][2]

    return summary(runs[0]), summary(runs[1])


def speedup(s1: float, s2: float, floor: float) -> None:
    """The speed-up of two processes, and the most it can be when ``floor`` seconds of
    each run (start and exit, measured on a one-line log) cannot be shared."""
    bound = s1 / (floor + (s1 - floor) / 2) if s1 > floor else 0.0
    print(f"{'  speed-up with 2 processes':44s} {s1 / s2:8.2f}x  (at most {bound:.2f}x with {floor:.2f} s "
          f"of start and exit in each run)", flush=True)


def zgrep_count(bundle: Path) -> list[str]:
    """`grep -c` of header lines over every log of a bundle, decompressed (the baseline)."""
    return ["sh", "-c", f"zcat -f $(find {bundle} -type f ! -name '*.json') | grep -c -E '^[0-9]{{4}}-'"]


def logparse(*args: str) -> list[str]:
    return [sys.executable, "-m", "logparse", *args]


def simulate(out: Path, size: int, seed: int) -> None:
    if (out / "ground_truth.json").exists():
        return
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    subprocess.run(logparse("simulate", "upgrade-2.2.14", "-o", str(out), "--seed", str(seed),
                            "--size", str(size)), check=True)
    dt = time.perf_counter() - t0
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"# simulate: {total / 1e6:,.0f} MB on disk in {dt:.1f} s", flush=True)


def concat(bundle: Path, target: Path) -> None:
    """One big plain file: every log of the bundle, decompressed, in path order."""
    if target.exists():
        return
    with open(target, "wb") as out:
        for p in sorted(bundle.rglob("*")):
            if not p.is_file() or p.name == "ground_truth.json" or "qemu" in p.parts:
                continue
            with open(p, "rb") as fp:
                head = fp.read(2)
            opener = gzip.open if head == b"\x1f\x8b" else open
            with opener(p, "rb") as fp:  # type: ignore[operator]
                shutil.copyfileobj(fp, out, 8 << 20)


def compile_bytecode() -> None:
    """Compile logparse's modules to bytecode, as ``pip install .`` does and as the first
    run of an editable install does. With ``PYTHONDONTWRITEBYTECODE`` set (this machine sets
    it), an editable install would recompile every module at every start: 40-50 ms here."""
    out = subprocess.run([sys.executable, "-c", "import logparse, os; print(os.path.dirname(logparse.__file__))"],
                         capture_output=True, text=True, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", out.stdout.strip()], check=True,
                   stdout=subprocess.DEVNULL)
    env = " (PYTHONDONTWRITEBYTECODE is set here)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
    print(f"# bytecode: logparse compiled once before the runs, as an install does{env}")


def row(name: str, seconds: float, mb: float, rss: int, grep_s: float, code: int) -> None:
    rate = f"{mb / seconds:9.1f} MB/s" if seconds and mb else f"{'-':>14s}"
    ratio = seconds / grep_s if grep_s else 0.0
    flag = "" if code in (0, 1) else f"  (exit {code})"
    print(f"{name:44s} {seconds:8.2f} s {rate} {ratio:8.1f}x grep {rss:6d} MB{flag}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="200MB", help="single-file input size (default 200MB)")
    ap.add_argument("--big", default=None, help="also run diagnose/report over a bundle of this size, e.g. 1GB")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="runs per 200 MB measurement; the median is shown")
    args = ap.parse_args()
    global REPEAT
    REPEAT = max(1, args.repeat)
    DATA.mkdir(exist_ok=True)
    size = parse_size(args.size)

    bundle = DATA / f"bundle-{args.size}"
    simulate(bundle, size, args.seed)
    one = DATA / f"one-{args.size}.log"
    concat(bundle, one)
    mb = one.stat().st_size / 1e6
    print(f"# input: {one} {mb:,.0f} MB; {os.cpu_count()} cores; python {sys.version.split()[0]}; "
          f"median of {REPEAT} runs, the runs of 1 and 2 processes alternated (the --big bundle's "
          f"diagnose and report: one run)")
    print(f"{'measurement':44s} {'time':>10s} {'rate':>14s} {'vs grep':>13s} {'peak RSS':>9s}")

    compile_bytecode()
    run(["cat", str(one)])  # warm the page cache
    g_s, g_rss, _ = measure(["grep", "-c", "-E", "^[0-9]{4}-", str(one)])
    row("grep -c (header lines)", g_s, mb, g_rss, g_s, 0)

    lib = (
        "import sys; from logparse.records import iter_records\n"
        "n = 0\n"
        "for r in iter_records([sys.argv[1]]): n += 1\n"
    )
    s, rss, c = measure([*ONE_CORE, sys.executable, "-c", lib, str(one)])
    row("iter_records (library, all fields)", s, mb, rss, g_s, c)
    cols = (
        "import sys; from logparse.columnar import iter_file_batches\n"
        "from logparse.models import FileStats; from logparse.patterns import load_patterns\n"
        "from logparse.sources import as_logfiles\n"
        "lf = as_logfiles([sys.argv[1]])[0]; n = 0\n"
        "for b in iter_file_batches(lf, load_patterns(), FileStats(lf.source, lf.host, lf.role)):\n"
        "    n += b.num_rows\n"
    )
    s, rss, c = measure([*ONE_CORE, sys.executable, "-c", cols, str(one)])
    row("columnar records (library, all fields, Arrow)", s, mb, rss, g_s, c)
    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        # The fixed cost of a run: start (Python, NumPy, pyarrow), a one-line log, exit.
        tiny = Path(tmp) / "one-line.log"
        with open(one, "rb") as fp:
            tiny.write_bytes(fp.readline())
        floor, rss, c = measure(ONE_CORE + logparse("parse", str(tiny), "-q", "-f", "parquet", "-o",
                                                    str(Path(tmp) / "tiny.parquet"), "--jobs", "1"))
        row("parse -f parquet, a one-line log (start+exit)", floor, 0.0, rss, g_s, c)
    (s, rss1, c1), (s2, rss2, c2) = measure_pair(
        ONE_CORE + logparse("parse", str(one), "-q", "-f", "jsonl", "-o", os.devnull, "--jobs", "1"),
        logparse("parse", str(one), "-q", "-f", "jsonl", "-o", os.devnull, "--jobs", "2"))
    row("parse -f jsonl (1 process)", s, mb, rss1, g_s, c1)
    row("parse -f jsonl --jobs 2", s2, mb, rss2, g_s, c2)
    speedup(s, s2, floor)

    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        store = Path(tmp) / "store.parquet"
        (s, rss1, c1), (s2, rss2, c2) = measure_pair(
            ONE_CORE + logparse("parse", str(one), "-q", "-f", "parquet", "-o", str(store), "--jobs", "1"),
            logparse("parse", str(one), "-q", "-f", "parquet", "-o", str(store), "--jobs", "2"), store)
        row("parse -f parquet (1 process, build store)", s, mb, rss1, g_s, c1)
        row("parse -f parquet --jobs 2 (build store)", s2, mb, rss2, g_s, c2)
        speedup(s, s2, floor)
        s, rss, c = measure(logparse("traces", str(one), "-f", "csv", "-o", os.devnull))
        row("traces", s, mb, rss, g_s, c)
        if _has_command("events"):
            s, rss, c = measure(logparse("events", str(one), "-f", "csv", "-o", os.devnull))
            row("events", s, mb, rss, g_s, c)
        if _has_command("grep"):
            s, rss, c = measure(logparse("grep", "NullPointerException", str(one), "-f", "jsonl"))
            row("grep PATTERN (raw log)", s, mb, rss, g_s, c)
            s, rss, c = measure(logparse("grep", "NullPointerException", str(store), "-f", "jsonl"))
            row("grep PATTERN (parsed store)", s, mb, rss, g_s, c)
        if _has_command("diagnose"):
            bmb = _bundle_mb(bundle)
            gb_s, _, _ = measure(zgrep_count(bundle))
            row(f"zcat | grep -c (bundle, {bmb:,.0f} MB)", gb_s, bmb, 0, gb_s, 0)
            for j in ("1", "2"):
                s, rss, c = measure(logparse("diagnose", str(bundle), "-f", "json", "-o", os.devnull, "--jobs", j))
                row(f"diagnose --jobs {j} (bundle)", s, bmb, rss, gb_s, c)

    if args.big:
        big = DATA / f"bundle-{args.big}"
        simulate(big, parse_size(args.big), args.seed)
        bmb = _bundle_mb(big)
        gb_s, gb_rss, _ = run(zgrep_count(big))
        row(f"zcat | grep -c ({bmb:,.0f} MB bundle)", gb_s, bmb, gb_rss, gb_s, 0)
        one_big = DATA / f"one-{args.big}.log"
        concat(big, one_big)
        obmb = one_big.stat().st_size / 1e6
        run(["cat", str(one_big)])  # warm the page cache
        g1_s, g1_rss, _ = measure(["grep", "-c", "-E", "^[0-9]{4}-", str(one_big)])
        row(f"grep -c (one {obmb:,.0f} MB log)", g1_s, obmb, g1_rss, g1_s, 0)
        with tempfile.TemporaryDirectory(dir=DATA) as tmp:
            # One big plain log, cut into byte ranges: where the start and exit of a run
            # weigh less than on 200 MB. Then the bundle: 160 files, most of them gzip (each
            # one unit, a whole file). Peak RSS must not grow with the input.
            out = Path(tmp) / "s.parquet"
            for src, src_mb, base_s, what in ((one_big, obmb, g1_s, "one big log"), (big, bmb, gb_s, "big bundle")):
                (s, rss1, c1), (s2, rss2, c2) = measure_pair(
                    ONE_CORE + logparse("parse", str(src), "-q", "-f", "parquet", "-o", str(out), "--jobs", "1"),
                    logparse("parse", str(src), "-q", "-f", "parquet", "-o", str(out), "--jobs", "2"), out)
                row(f"parse -f parquet --jobs 1 ({what})", s, src_mb, rss1, base_s, c1)
                row(f"parse -f parquet --jobs 2 ({what})", s2, src_mb, rss2, base_s, c2)
                speedup(s, s2, floor)
        if _has_command("diagnose"):
            s, rss, c = run(logparse("diagnose", str(big), "-f", "json", "-o", os.devnull, "--jobs", "2"))
            row("diagnose --jobs 2 (big bundle)", s, bmb, rss, gb_s, c)
        if _has_command("report"):
            with tempfile.TemporaryDirectory(dir=DATA) as tmp:
                s, rss, c = run(logparse("report", str(big), "-o", str(Path(tmp) / "report"), "--jobs", "2"))
                row("report (big bundle, HTML + MD + PNG)", s, bmb, rss, gb_s, c)
    return 0


def _bundle_mb(bundle: Path) -> float:
    total = 0
    for p in bundle.rglob("*"):
        if p.is_file() and p.name != "ground_truth.json":
            with open(p, "rb") as fp:
                head = fp.read(2)
            if head == b"\x1f\x8b":
                with gzip.open(p, "rb") as fp:
                    while block := fp.read(8 << 20):
                        total += len(block)
            else:
                total += p.stat().st_size
    return total / 1e6


def _has_command(name: str) -> bool:
    out = subprocess.run(logparse(name, "--help"), capture_output=True)
    return out.returncode == 0


if __name__ == "__main__":
    sys.exit(main())
