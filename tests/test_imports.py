"""The house's import rules, read from the source: no import cycles between restyle's modules (type-hint imports
included), imports that go one way (front ends on the API, the API on the jobs, the jobs on the run kernel, the
kernel on the parts below it), no job importing another, and front ends that reach the jobs only through the API."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Each package may import only from the layers after it (and from itself).
LAYERS = [
    ("restyle.cli", "restyle.web", "restyle.batch"),
    ("restyle.api",),
    ("restyle.jobs",),
    ("restyle.run",),
    ("restyle.objectives", "restyle.eval"),
    ("restyle.params", "restyle.losses", "restyle.backbones", "restyle.text", "restyle.render", "restyle.colour"),
    ("restyle.io",),
    ("restyle.sections",),
    ("restyle.conventions", "restyle.configs", "restyle.errors"),
]


def _module_names() -> dict[str, Path]:
    modules = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every restyle module ``path`` imports: at run time, deferred or for type hints only (``TYPE_CHECKING``); a
    type-hint import that closes a circle is still a circle in the design."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.ImportFrom) and node.module:
            candidates = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            candidates = []
        found.update(name for name in candidates if name in modules)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _module_names()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _layer(module: str) -> int | None:
    for index, packages in enumerate(LAYERS):
        if any(module == package or module.startswith(package + ".") for package in packages):
            return index
    return None


def test_no_import_cycles() -> None:
    graph, state, path, cycles = _graph(), {}, [], []

    def visit(module: str) -> None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_imports_go_one_way() -> None:
    upward = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if _layer(module) is not None and _layer(target) is not None and _layer(target) < _layer(module)
    ]
    assert not upward, "imports against the layering:\n" + "\n".join(sorted(upward))


def _jobs_importing_other_jobs(graph: dict[str, set[str]]) -> list[str]:
    def job(module: str) -> str | None:
        parts = module.split(".")
        return parts[2] if len(parts) > 2 and parts[1] == "jobs" else None

    return sorted(f"{module} imports {target}" for module, targets in graph.items() for target in targets
                  if job(module) and job(target) and job(module) != job(target))


def test_no_job_imports_another() -> None:
    """A helper two jobs need moves down a layer (run/, objectives/, render/, io/)."""
    crossing = _jobs_importing_other_jobs(_graph())
    assert not crossing, "jobs importing other jobs:\n" + "\n".join(crossing)


FRONT_ENDS = ("restyle.cli", "restyle.web", "restyle.batch")
# what a front end may import besides the API and itself: the run folder's names, and what serves every layer
FRONT_END_MAY_IMPORT = ("restyle.api", "restyle.run.files", "restyle.errors", "restyle.configs", "restyle.io",
                        "restyle.backbones.weights", *FRONT_ENDS)


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def test_front_ends_reach_the_jobs_only_through_the_api() -> None:
    reaching = sorted(f"{module} imports {target}" for module, targets in _graph().items()
                      if _within(module, FRONT_ENDS) for target in targets
                      if target != "restyle" and not _within(target, FRONT_END_MAY_IMPORT))
    assert not reaching, "front ends importing past the API:\n" + "\n".join(reaching)


def test_the_rules_see_a_cycle(tmp_path, monkeypatch) -> None:
    """The checks are live: a back end importing its dispatcher at run time, a type-hint import closing a circle,
    and one job importing another are all found."""
    package = tmp_path / "restyle"
    (package / "jobs" / "mesh").mkdir(parents=True)
    (package / "jobs" / "image").mkdir()
    (package / "a.py").write_text("from restyle.b import x\n")
    (package / "b.py").write_text("def f():\n    from restyle.a import y\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from restyle.a import y\n")
    (package / "jobs" / "mesh" / "run.py").write_text("from restyle.jobs.image.inputs import z\n")
    (package / "jobs" / "image" / "inputs.py").write_text("")
    monkeypatch.setattr(__import__(__name__), "SRC", tmp_path)
    graph = _graph()
    assert graph["restyle.a"] == {"restyle.b"} and graph["restyle.b"] == {"restyle.a"}
    assert graph["restyle.c"] == {"restyle.a"}
    assert _jobs_importing_other_jobs(graph) == ["restyle.jobs.mesh.run imports restyle.jobs.image.inputs"]
