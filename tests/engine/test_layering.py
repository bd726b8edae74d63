"""The package layering: engine is the runtime (no torch, no trainers, no CLI); trainers may use
engine but not the CLI; the CLI sits above both."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(package: str) -> dict[str, set[str]]:
    """Top-level module names each file of `package` imports, lazily imported ones included."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
            elif (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__"
                  and node.args and isinstance(node.args[0], ast.Constant)):
                names.add(str(node.args[0].value).split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_no_engine_file_imports_torch_trainers_or_the_cli_even_lazily():
    above = {"torch", "trainers", "doppel_cli"}
    bad = {f: sorted(n & above) for f, n in _imports("engine").items() if n & above}
    assert not bad
    assert "torch" in set().union(*_imports("trainers").values())  # the scan does see imports


def test_trainers_do_not_import_the_cli():
    bad = {f: n for f, n in _imports("trainers").items() if "doppel_cli" in n}
    assert not bad


def test_importing_every_engine_module_in_a_fresh_interpreter_loads_no_torch():
    code = (
        "import importlib, pkgutil, sys\n"
        "import engine\n"
        "mods = [m.name for m in pkgutil.walk_packages(engine.__path__, 'engine.')]\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'trainers',\n"
        "                                                          'doppel_cli'))\n"
        "print(len(mods), bad)\n"
        "sys.exit(1 if bad or len(mods) < 20 else 0)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
