"""The kernel (``shared/``) imports no service and none of the ``cxc`` tooling: services and tooling depend on
it, never the other way round. Checked on the source (every import statement, at any depth, and every
``importlib.import_module`` of a literal or f-string) so an import hidden in a function counts too."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("services", "cxc")


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and node.args
              and ast.unparse(node.func) in ("importlib.import_module", "import_module", "__import__")):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((node.lineno, arg.value))
            elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                found.append((node.lineno, str(arg.values[0].value)))
    return found


def violations(package: Path) -> list[str]:
    bad = []
    for path in sorted(package.rglob("*.py")):
        for line, name in _imported(ast.parse(path.read_text(), str(path))):
            if name.split(".")[0] in FORBIDDEN:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return bad


def test_the_kernel_imports_no_service_and_no_tooling():
    assert (ROOT / "shared" / "service.py").exists()
    assert violations(ROOT / "shared") == []


def test_the_check_sees_every_kind_of_import(tmp_path):
    (tmp_path / "a.py").write_text(
        "import importlib\n"
        "def f(name):\n"
        "    from services.registration import seed\n"
        "    import cxc.cli\n"
        "    importlib.import_module(f'services.{name}.settings')\n"
        "    importlib.import_module('services.reporting.bootstrap')\n"
        "from shared.db import migrate\n"
        "from . import sibling\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert [v.split(" imports ")[1] for v in violations(tmp_path)] == [
            "services.registration", "cxc.cli", "services.", "services.reporting.bootstrap"]
    finally:
        ROOT = saved


def test_no_service_runtime_loads_the_tooling():
    # Services reach cxc only from their `cxc` sub-command modules (entrypoints/cli.py, the demo) and the
    # dev mail catcher that `cxc run` starts; what a running service imports never includes the tooling.
    import subprocess
    import sys

    code = ("import sys\n"
            "import services.registration.bootstrap, services.matchmaking.bootstrap\n"
            "import services.notifications.bootstrap, services.reporting.bootstrap\n"
            "print(sorted(m for m in sys.modules if m == 'cxc' or m.startswith('cxc.')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
