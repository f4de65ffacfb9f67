"""The layers import one way: each package may import only the packages below it (docs/DESIGN.md
section 3), `bench/` is imported by nothing, and no package is imported for its side effect."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A package's level; a package may import its own modules and those of lower levels. evaluation/ and
# pipelines/ stand side by side: neither imports the other.
LEVELS = {"tfrecords": 0, "common": 1, "model": 2, "evaluation": 3, "pipelines": 3, "demo": 4, "bench": 5}


def imports_of(path: Path) -> list[tuple[str, int, str]]:
    """(imported top-level project package, line, what is imported) of every import in `path`: the
    module of `import a.b`, or `a.b:name` for `from a.b import name`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}:{alias.name}" for alias in node.names]
        else:
            continue
        found += [(name.split(".")[0].split(":")[0], node.lineno, name) for name in names
                  if name.split(".")[0].split(":")[0] in LEVELS]
    return found


def project_modules() -> list[tuple[str, Path]]:
    return [(package, path) for package in LEVELS for path in sorted((ROOT / package).rglob("*.py"))]


def test_every_import_runs_down_the_layers():
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {module}"
             for package, path in project_modules() for imported, line, module in imports_of(path)
             if imported != package and LEVELS[imported] >= LEVELS[package]]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_nothing_imports_bench():
    importers = [path for path in [*(p for _, p in project_modules()), *sorted((ROOT / "tests").rglob("*.py"))]
                 if "bench" not in path.relative_to(ROOT).parts[:1]
                 and any(imported == "bench" for imported, _, _ in imports_of(path))]
    assert not importers, f"bench/ is on top, imported by nothing: {importers}"


def test_no_package_is_imported_for_its_side_effect():
    # A bare `import model` binds a package whose modules are not used through it: it only runs the
    # package's __init__. And a package's __init__ of a layer above the contract holds no code to run.
    bare = [f"{path.relative_to(ROOT)}:{line}" for _, path in project_modules() for imported, line, module in
            imports_of(path) if module == imported]
    assert not bare, f"packages imported whole, for what their __init__ does: {bare}"
    for package in LEVELS:
        if package == "tfrecords":  # the contract re-exports its public names, without importing TensorFlow
            continue
        body = ast.parse((ROOT / package / "__init__.py").read_text()).body
        assert all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body), \
            f"{package}/__init__.py runs code on import"
