"""Make the benchmarked package start as an installed one does: with its bytecode compiled.

A wheel install (``pip install tlsrpt-tui``) compiles every module to ``__pycache__``; the
editable install the benches run from does not, and with ``PYTHONDONTWRITEBYTECODE`` set (as
on the CI box) every ``python -m tlsrpt_tui`` child compiled ~60 modules from source again:
about 0.1 s of CPU per process start (0.3 s on a loaded 2-core machine), charged to our side
only, since the peer tools are installed compiled. Writing the bytecode once, as pip would,
leaves that out of the comparison.
"""

from __future__ import annotations

import compileall
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def compile_package(tree: Path = REPO) -> None:
    """Write the package's bytecode now (quietly; a no-op when it is up to date)."""
    compileall.compile_dir(tree / "tlsrpt_tui", quiet=1)
