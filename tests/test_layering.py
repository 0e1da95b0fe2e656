"""The streaming core must not import pandas, plotly or click (STYLE §2.2 rule 1)."""

from __future__ import annotations

import subprocess
import sys


def test_core_modules_do_not_import_heavy_libraries() -> None:
    code = (
        "import sys, logparse.records, logparse.sources, logparse.patterns, logparse.pipeline;"
        "import importlib.util as u;"
        "mods=[m for m in ('logparse.events','logparse.stacktraces','logparse.payload') if u.find_spec(m)];"
        "[__import__(m) for m in mods];"
        "bad=[m for m in ('pandas','plotly','click') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
