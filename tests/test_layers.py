"""The import contract: api -> service -> storage; inside service, its domain packages in layers
(LAYERS), with no import circle; and service/detection imports nothing else of the project, so
detection stays a pure core that a CLI, a worker or a benchmark can use alone."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("api", "service", "storage", "cli", "tests", "bench")


def _imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return [name for name in found if name.split(".")[0] in PROJECT]


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# service's parts from the top down: a module may import its own layer and those below it. The
# crawler's and marketing's flows on top; the security desk and what it builds on below them; the
# process's shared parts and plain values under every domain; the pure detection core at the
# bottom.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("service.ingest", "service.assets"),
    ("service.evidence",),
    ("service.desk",),
    ("service.alerts",),
    ("service.access",),
    ("service.runtime", "service.metrics", "service.replica"),
    (
        "service.decoding",
        "service.thumbnails",
        "service.settings",
        "service.paging",
        "service.values",
        "service.urls",
        "service.errors",
        "service.allocator",
    ),
    ("service.detection",),
)
# The runtime builds the process's long-lived parts, so it names the few domain types they are
# (the sealer, the rate limiter, the match inbox, the chain's lock for group commits, the keys'
# bootstrap at start); nothing else reaches up.
UPWARD_ALLOWED = {
    ("service.runtime", "service.access.keys"),
    ("service.runtime", "service.access.ratelimit"),
    ("service.runtime", "service.alerts.sealed"),
    ("service.runtime", "service.evidence.chain"),
    ("service.runtime", "service.ingest.inbox"),
}


def _layer(module: str) -> int | None:
    for depth, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return depth
    return None


def _service_graph() -> dict[str, set[str]]:
    """service's modules and the service modules each imports (TYPE_CHECKING imports too)."""
    modules = {_name(path): path for path in _modules("service")}
    # `from service.desk import leaks` names the package too; its __init__ holds only a docstring.
    packages = {name for name, path in modules.items() if path.name == "__init__.py"}
    return {
        name: {m for m in _imports(path) if m in modules and m not in packages and m != name}
        for name, path in modules.items()
    }


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("service", ("api", "cli")),
        ("storage", ("api", "service", "cli")),
    ],
)
def test_imports_point_down(package: str, forbidden: tuple[str, ...]) -> None:
    upward = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules(package)
        if "migrations" not in path.parts
        for name in _imports(path)
        if name.split(".")[0] in forbidden
    ]
    assert upward == []


def test_detection_imports_nothing_else_of_the_project() -> None:
    outside = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules("service/detection")
        for name in _imports(path)
        if not name.startswith("service.detection")
    ]
    assert outside == []


def test_service_never_imports_fastapi() -> None:
    web = [
        f"{path.relative_to(ROOT)}: {node.names[0].name if isinstance(node, ast.Import) else node.module}"
        for path in _modules("service")
        for node in ast.walk(ast.parse(path.read_text()))
        if (
            isinstance(node, ast.Import)
            and node.names[0].name.split(".")[0] in ("fastapi", "starlette")
        )
        or (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] in ("fastapi", "starlette")
        )
    ]
    assert web == []


def test_every_service_module_has_a_layer() -> None:
    unplaced = [m for m in _service_graph() if m != "service" and _layer(m) is None]
    assert unplaced == []


def test_service_layers_import_only_downward() -> None:
    upward = sorted(
        f"{module} -> {imported}"
        for module, imports in _service_graph().items()
        for imported in imports
        if module != "service"
        and (here := _layer(module)) is not None
        and (there := _layer(imported)) is not None
        and there < here
        and (module, imported) not in UPWARD_ALLOWED
    )
    assert upward == []


def test_service_has_no_import_circle() -> None:
    graph = _service_graph()
    # Tarjan's strongly connected components: any with two or more modules is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert circles == []
