"""The package's shape: each room imports only the rooms below it, and no import goes in circles.

Read from the source (ast), so a new module or an import added later is checked too.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "worker"
BASE = {"settings", "validation", "border"}
STAGES = {"intake", "limits", "schedule", "attempt", "photos", "findings", "events", "review"}
# Each room (a subpackage, or a module at the top) and the rooms it may import.
ALLOWED: dict[str, set[str]] = {
    "settings": set(),
    "validation": set(),
    "border": set(),
    "database": set(),
    "observe": {"settings", "border"},
    "events": BASE | {"observe"},
    "partners": BASE | {"observe"},
    "intake": BASE | {"observe", "database", "events", "partners"},
    "limits": BASE | {"observe", "partners"},
    "schedule": BASE | {"observe", "database", "partners", "limits"},
    "photos": BASE | {"observe", "partners"},
    "findings": BASE | {"observe", "partners", "photos"},
    "attempt": BASE
    | {"observe", "database", "partners", "limits", "schedule", "photos", "findings"},
    "review": BASE | {"observe", "database", "partners", "photos", "findings", "events"},
    "resources": BASE | {"observe", "database", "partners", "photos", "findings"},
    "service": BASE | {"observe", "database", "partners", "resources"} | STAGES,
    "ops": BASE | {"observe", "database", "partners", "resources"} | STAGES,
    "simulator": set(),
    "docs": BASE | {"partners"},
    "console": BASE | {"observe", "database", "partners", "resources", "ops"} | STAGES,
    "demo": BASE
    | {"observe", "database", "partners", "resources", "service", "simulator", "console"}
    | STAGES,
    "cli": BASE
    | {
        "observe",
        "database",
        "partners",
        "resources",
        "service",
        "simulator",
        "ops",
        "console",
        "demo",
    }
    | STAGES,
    "__main__": {"cli"},
}


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _imports(path: Path) -> set[str]:
    """Modules of the package imported anywhere in this file, functions included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from worker.photos import catalog` imports the module worker.photos.catalog.
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    modules = _modules()
    return {name for name in names if name in modules}


def test_every_module_is_in_a_known_room() -> None:
    rooms = {_room(name) for name in _modules()} - {None}
    assert rooms <= ALLOWED.keys(), f"new rooms to place in ALLOWED: {rooms - ALLOWED.keys()}"


def test_the_rooms_form_no_circle() -> None:
    TopologicalSorter(ALLOWED).prepare()  # raises CycleError on a circle


@pytest.mark.parametrize("module", sorted(_modules()))
def test_imports_point_down(module: str) -> None:
    room = _room(module)
    if room is None:
        return
    wrong = sorted(
        target
        for target in _imports(_modules()[module])
        if _room(target) not in {room, None, *ALLOWED[room]}
    )
    assert not wrong, f"{room} may use {sorted(ALLOWED[room])}, but {module} imports {wrong}"


def test_no_module_imports_itself_in_a_circle() -> None:
    modules = _modules()
    # A module importing its own package's __init__ (which re-exports it) is not a circle.
    graph = {
        name: {t for t in _imports(path) if t != name and not name.startswith(f"{t}.")}
        for name, path in modules.items()
    }
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize("room", sorted(r for r in ALLOWED if (PACKAGE / r).is_dir()))
def test_each_room_says_what_it_holds_and_may_use(room: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / room / "__init__.py").read_text()))
    assert doc, f"worker/{room}/__init__.py has no docstring"
    assert "May use:" in doc
