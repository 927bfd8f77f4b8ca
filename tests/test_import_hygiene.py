"""core/, net/, store/ and service/ never import textual or rich (design: layers).

Each layer is imported in a fresh interpreter, every module of it, and sys.modules is checked:
a stray ``from rich.text import Text`` anywhere below ui/ fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_helpers import REPO

SCRIPT = r"""
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
names = [package.__name__]
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(info.name)
    names.append(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))
print(json.dumps({"modules": names, "ui_libraries": bad}))
"""


@pytest.mark.parametrize("layer", ["core", "net", "store", "service"])
def test_layer_does_not_import_textual_or_rich(layer):
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"tlsrpt_tui.{layer}"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert res.returncode == 0, res.stderr
    found = json.loads(res.stdout)
    assert found["modules"][0] == f"tlsrpt_tui.{layer}"
    assert found["ui_libraries"] == [], f"{layer} pulls in {found['ui_libraries']}"


def test_the_check_itself_sees_ui_libraries():
    """Guard against a check that cannot fail: importing the ui layer does show textual."""
    res = subprocess.run(
        [sys.executable, "-c", "import sys, textual; print('textual' in sys.modules)"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert res.stdout.strip() == "True"


def test_table_commands_do_not_load_ui_libraries(tmp_path):
    code = (
        "import sys; from tlsrpt_tui.cli import main; "
        f"rc = main(['overview', '--db', {str(tmp_path / 's.db')!r}, '--format', 'csv']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == "[]"
