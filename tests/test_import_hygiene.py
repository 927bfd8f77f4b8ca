"""core/, net/, store/, service/ and demo/ never import textual, rich or the ui package.

Each layer is imported in a fresh interpreter, every module of it; then every module named by
an import statement anywhere in its source, inside functions included (``ast.walk`` over each
file: a lazy ``from rich.text import Text`` in a function body never runs at import time), is
imported too, and sys.modules is walked: a stray UI import anywhere below ui/ fails here.
Self-checks prove the walk sees what it must (the ui layer does load textual; a function-level
import in a scratch package is found and followed).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_helpers import REPO

SCRIPT = r"""
import ast, importlib, importlib.util, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
names = [package.__name__]
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(info.name)
    names.append(info.name)
# Every import statement at any depth (function bodies included), resolved to module names.
lazy = set()
for name in names:
    module = sys.modules[name]
    path = getattr(module, "__file__", None)
    if not path:
        continue
    base = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Import):
            lazy.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parent = node.module or ""
            if node.level:
                parent = importlib.util.resolve_name("." * node.level + parent, base)
            lazy.add(parent)
            lazy.update(f"{parent}.{alias.name}" for alias in node.names)
missing = []
for target in sorted(lazy):
    try:
        importlib.import_module(target)
    except ImportError:  # "from x import function": x.function is no module
        if importlib.util.find_spec(target.rpartition(".")[0] or target) is None:
            missing.append(target)
ui = ("textual", "rich")
bad = sorted(m for m in sys.modules if m.split(".")[0] in ui or m.startswith("tlsrpt_tui.ui"))
print(json.dumps({"modules": names, "imports": sorted(lazy), "ui_libraries": bad,
                  "missing": missing}))
"""


def walk(package: str, *, cwd=REPO) -> dict:  # type: ignore[no-untyped-def]
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, package],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.mark.parametrize("layer", ["core", "net", "store", "service", "demo"])
def test_layer_does_not_import_textual_or_rich(layer):
    found = walk(f"tlsrpt_tui.{layer}")
    assert found["modules"][0] == f"tlsrpt_tui.{layer}"
    assert len(found["modules"]) > 1 and found["imports"]
    assert found["ui_libraries"] == [], f"{layer} pulls in {found['ui_libraries']}"
    assert found["missing"] == [], f"{layer} imports modules that do not exist"


def test_the_walk_follows_imports_inside_functions(tmp_path):
    """Self-check: a UI import that only a function body makes is found, and one that is not
    there is not invented (the same walk on the same package without it comes back clean)."""
    pkg = tmp_path / "scratch_layer"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "clean.py").write_text("import json\n\ndef f():\n    from . import helper\n")
    (pkg / "helper.py").write_text("X = 1\n")
    assert walk("scratch_layer", cwd=tmp_path)["ui_libraries"] == []
    (pkg / "lazy.py").write_text("def show():\n    from rich.text import Text\n    return Text\n")
    found = walk("scratch_layer", cwd=tmp_path)
    assert "rich.text" in found["imports"] and "scratch_layer.helper" in found["imports"]
    assert "rich" in found["ui_libraries"]


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


# -- ui/ reads only through its injected service ----------------------------------------------

def _imports(path) -> set[str]:  # type: ignore[no-untyped-def]
    """Every module a file imports (TYPE_CHECKING and function-local imports included)."""
    import ast

    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _forbidden(package: str, prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    bad: dict[str, list[str]] = {}
    for path in sorted((REPO / "tlsrpt_tui" / package).rglob("*.py")):
        hits = sorted(m for m in _imports(path)
                      if any(m == p or m.startswith(p + ".") for p in prefixes))
        if hits:
            bad[str(path.relative_to(REPO))] = hits
    return bad


def test_no_ui_module_imports_the_store_or_sqlite3():
    """Screens and widgets get their data from the injected service (ui/facade.py), which
    runs store work off the event loop; none of them opens SQLite itself."""
    assert _forbidden("ui", ("tlsrpt_tui.store", "sqlite3")) == {}


def test_the_store_check_itself_finds_store_imports():
    """Guard against a check that cannot fail: service/ does import the store."""
    assert "tlsrpt_tui/service/queries.py" in _forbidden("service", ("tlsrpt_tui.store",))


def test_screens_and_widgets_do_not_import_the_app():
    """No ui/app.py <-> ui/screens import circle: screens ask for navigation with messages
    and receive the service and the live state they show; only the app imports them."""
    assert _forbidden("ui/screens", ("tlsrpt_tui.ui.app",)) == {}
    assert _forbidden("ui/widgets", ("tlsrpt_tui.ui.app", "tlsrpt_tui.ui.screens")) == {}
