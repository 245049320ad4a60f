"""The library's layout: its packages and top-level modules import each other without a cycle,
and none of them imports Streamlit (the dashboard's helpers live in dashboard/)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

LIB = Path(__file__).resolve().parent.parent / "selfinstruct"


def _imports() -> tuple[dict[str, set[str]], list[str]]:
    """(unit -> units it imports, files importing streamlit); a unit is a subpackage or a top-level module."""
    units = {p.name for p in LIB.iterdir() if (p / "__init__.py").exists()} | {p.stem for p in LIB.glob("*.py")}
    edges: dict[str, set[str]] = {}
    streamlit = []
    for f in LIB.rglob("*.py"):
        parts = f.relative_to(LIB.parent).with_suffix("").parts
        package = parts[:-1]  # for an __init__.py: the package itself
        src = parts[1] if len(parts) > 1 else ""
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name.split(".") for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level:
                base = list(package[: len(package) - node.level + 1]) + (node.module.split(".") if node.module else [])
                targets = [base] if node.module else [base + [a.name] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = [node.module.split(".")]
            else:
                continue
            for t in targets:
                if t[0] == "streamlit":
                    streamlit.append(str(f.relative_to(LIB.parent)))
                if t[0] == "selfinstruct" and len(t) > 1 and t[1] in units and t[1] != src:
                    edges.setdefault(src, set()).add(t[1])
    return edges, streamlit


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(u: str, path: list[str]) -> list[str] | None:
        state[u] = 1
        for v in sorted(edges.get(u, ())):
            if state.get(v) == 1:
                return path[path.index(v):] + [u, v] if v in path else [u, v]
            if v not in state and (found := visit(v, path + [u])):
                return found
        state[u] = 2
        return None

    return next((c for u in sorted(edges) if u not in state and (c := visit(u, []))), None)


def test_no_import_cycle_between_library_packages_and_no_streamlit():
    edges, streamlit = _imports()
    assert edges["cli"]  # the walk found the imports
    assert _cycle(edges) is None, " -> ".join(_cycle(edges) or [])
    assert streamlit == []


def test_ray_is_imported_only_when_a_cluster_is_asked_for():
    """Ray is optional: the library, its sharded engine module and every CLI command load without it."""
    code = ("import sys, selfinstruct, selfinstruct.cluster, selfinstruct.novelty.sharded, selfinstruct.filter_views\n"
            "from selfinstruct.cli import build_parser\n"
            "build_parser().parse_args(['prepare', '-w', 'x', '--ray', 'auto'])\n"
            "assert not [m for m in sys.modules if m == 'ray' or m.startswith('ray.')], 'ray was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=LIB.parent)
