"""Every third-party module the project imports is provided by a requirement that
pyproject.toml declares.

A module counts when our code imports it directly, even if some declared package happens to
pull it in today (lxml through trafilatura, yarl through aiohttp): that package may drop it
tomorrow, and a fresh install then breaks where nobody looks. Fails before the fix: `openai`
(bot/summarize/llm.py), `lxml`, `yarl` and `charset_normalizer` were imported but not declared.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The installed packages, the benchmarks (an extra) and the tests themselves (the test extra).
SCANNED = ("bot", "adapters", "benchmarks", "tests")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in (project.get("optional-dependencies") or {}).values():
        requirements += extra
    return {_normalized(re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0]) for requirement in requirements}


def imported_modules() -> dict[str, str]:
    """Top-level third-party module -> the first place that imports it (file:line)."""
    own = {path.name for path in ROOT.iterdir() if (path / "__init__.py").exists()} | {"tests", "conftest"}
    own |= {path.stem for path in (ROOT / "tests").glob("*.py")}  # tests import their helpers by name
    found: dict[str, str] = {}
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in own or top == "__future__":
                        continue
                    found.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def undeclared(found: dict[str, str], declared: set[str]) -> list[str]:
    providers_of = metadata.packages_distributions()
    problems = []
    for module, where in sorted(found.items()):
        providers = {_normalized(name) for name in providers_of.get(module, [])}
        if not providers:
            problems.append(f"{module} (imported at {where}) is not installed and no requirement provides it")
        elif not providers & declared:
            problems.append(
                f"{module} (imported at {where}) comes from {', '.join(sorted(providers))}, "
                "which pyproject.toml does not declare"
            )
    return problems


def test_every_imported_module_is_declared():
    assert undeclared(imported_modules(), declared_distributions()) == []


def test_the_check_sees_a_module_only_borrowed_from_another_package():
    """The check itself can fail: yarl is installed (aiohttp needs it) but is not declared
    when the requirement list leaves it out."""
    declared = declared_distributions() - {"yarl"}
    problems = undeclared({"yarl": "bot/fetch.py:1"}, declared)
    assert len(problems) == 1 and "does not declare" in problems[0]
    problems = undeclared({"no_such_module_anywhere": "x.py:1"}, declared)
    assert len(problems) == 1 and "not installed" in problems[0]


def test_lazy_imports_inside_functions_are_seen():
    """The LLM client is imported inside a function: the walk must see it all the same."""
    assert "openai" in imported_modules()
