"""The import contract: api -> service -> storage, and service/detection imports nothing else of
the project, so detection stays a pure core that a CLI, a worker or a benchmark can use alone."""

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
