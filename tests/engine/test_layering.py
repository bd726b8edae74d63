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


# The engine's packages from the bottom up: a module may import its own package and those
# below it, never one above (docs/architecture.md draws it).
LAYERS = ("errors", "types", "runtime", "io", "geometry", "swap", "shot", "faceset", "interop",
          "host", "evaluate")


def _engine_module_imports() -> dict[str, set[str]]:
    """Engine modules each engine module imports (dotted names), lazily imported ones included."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "engine").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "engine":
                    names |= {f"engine.{a.name}" for a in node.names}
                elif node.module.startswith("engine."):
                    names.add(node.module)
            elif isinstance(node, ast.Import):
                names |= {a.name for a in node.names if a.name.startswith("engine.")}
        found[name] = names
    return found


def _layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else "errors"
    return LAYERS.index(part) if part in LAYERS else 0  # engine/__init__: the version


def test_no_engine_package_imports_one_above_it():
    up = sorted(f"{m} -> {t}" for m, ts in _engine_module_imports().items() for t in ts
                if _layer(t) > _layer(m))
    assert not up, up


def test_engine_modules_import_no_circle():
    graph = {m: {t for t in ts if t in _engine_module_imports()} for m, ts in
             _engine_module_imports().items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m: str, stack: list[str]) -> bool:
        state[m] = 1
        for t in sorted(graph.get(m, ())):
            if t == m or t.startswith(m + "."):  # a package importing its own modules
                continue
            if state.get(t) == 1:
                cycle.extend(stack[stack.index(t):] + [t] if t in stack else [m, t])
                return True
            if state.get(t) is None and visit(t, stack + [t]):
                return True
        state[m] = 2
        return False

    for m in sorted(graph):
        if state.get(m) is None and visit(m, [m]):
            break
    assert not cycle, " -> ".join(cycle)


def test_every_engine_module_sits_in_a_known_layer():
    top = {p.name for p in (ROOT / "engine").iterdir()
           if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    known = set(LAYERS) | {"errors.py", "types.py", "__init__.py"}
    assert {t.removesuffix(".py") for t in top} <= {k.removesuffix(".py") for k in known}


def test_the_architecture_drawing_is_current():
    done = subprocess.run([sys.executable, "tools/draw_layout.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
