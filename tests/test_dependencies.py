"""Every package the gateway imports is one it declares.

The dev extras install many packages that the gateway's own install lacks (httpx came with
langchain-openai): a module-level import of one of them passes every test here and crashes
`goodstanding --version` in the image. This reads each module's imports and checks each
third-party one against pyproject.toml: a core dependency, or a (non-dev) extra.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "goodstanding"


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=;!~]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    extras = {_name(r) for name, reqs in project["optional-dependencies"].items()
              if name != "dev" for r in reqs}
    return core, extras


def _module_level_imports(tree: ast.Module) -> set[str]:
    """Top-level packages imported when the module loads (not inside a function, and not in
    a ``try`` that handles the ImportError: those are optional by construction)."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)

    visit(tree.body)
    return found


def test_every_imported_package_is_declared():
    core, extras = _declared()
    distributions = packages_distributions()
    undeclared = []
    for path in sorted(SOURCE.rglob("*.py")):
        for package in _module_level_imports(ast.parse(path.read_text(), str(path))):
            if package in sys.stdlib_module_names or package in ("goodstanding", "__future__"):
                continue
            names = {d.lower().replace("_", "-") for d in distributions.get(package, [package])}
            if not names & (core | extras):
                undeclared.append(f"{path.relative_to(ROOT)}: {package} ({', '.join(names)})")
    assert not undeclared, "imported but not declared in pyproject.toml:\n" + "\n".join(undeclared)


def test_the_check_sees_an_undeclared_import():
    assert "httpx" in _module_level_imports(ast.parse("import httpx\nimport os\n"))
    assert "yaml" in _module_level_imports(ast.parse("if True:\n    from yaml import safe_load\n"))
    assert not _module_level_imports(ast.parse("def f():\n    import httpx\n"))
