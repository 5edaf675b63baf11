"""Ground, stages, roof: every import of every module points down the layer order, none goes round in a circle.

Layer order (``docs/architecture.md``): the ground (``ocrstream/`` except
``ocrstream/cli/``) imports no stage; the stages ``producers`` -> ``ocr_agents``
-> ``streams`` -> ``serving`` import the ground and stages before them along
the data flow; ``synth`` (synthetic data) may import the ground and every
stage, and no stage imports it; the roof (``ocrstream/cli/``) composes them
all. Imports are read from syntax trees (module level and inside functions,
see :mod:`tests.support.imports`). The map in ``docs/architecture.md`` is
checked too: every module and file it names exists.
"""

from __future__ import annotations

import re
from collections import defaultdict

from tests.support import REPO
from tests.support.imports import PACKAGES, imported_modules, module_path, product_modules

LAYERS = ("ground", "producers", "ocr_agents", "streams", "serving", "synth", "roof")
ROOF = "ocrstream.cli"
ENTRY_POINT = "ocrstream.__main__"  # ``python -m ocrstream`` runs the roof's app: part of the roof
ARCHITECTURE = REPO / "docs" / "architecture.md"

Edge = tuple[str, str]


def layer_of(module: str) -> str | None:
    """The layer of a module of the checkout (``None`` for third-party and standard-library modules)."""
    if module in (ROOF, ENTRY_POINT) or module.startswith(ROOF + "."):
        return "roof"
    top = module.partition(".")[0]
    if top == "ocrstream":
        return "ground"
    return top if top in LAYERS else None


def import_edges() -> set[Edge]:
    """``(importer, imported)`` for every import between two modules of the product."""
    edges: set[Edge] = set()
    for name, path in product_modules():
        edges.update((name, target) for target in imported_modules(path)
                     if target != name and layer_of(target) is not None)
    return edges


def upward(edges: set[Edge]) -> list[str]:
    """The edges that import a later layer, as ``a -> b (layer -> later layer)`` lines."""
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    return sorted(f"{a} -> {b} ({layer_of(a)} imports the later layer {layer_of(b)})" for a, b in edges
                  if rank[layer_of(b)] > rank[layer_of(a)])  # type: ignore[index]


def cycles(edges: set[Edge]) -> list[str]:
    """Circular imports between layers (each one package), one shortest circle per tangle.

    Each is ``a -> b -> a  via x -> y, y2 -> x2``: the layers, then one import for each step.
    """
    graph: dict[str, dict[str, Edge]] = defaultdict(dict)
    for a, b in sorted(edges):
        la, lb = layer_of(a), layer_of(b)
        if la != lb:
            graph[la].setdefault(lb, (a, b))  # type: ignore[index]
    found: list[str] = []
    seen: set[str] = set()
    for start in sorted(graph):
        if start in seen:
            continue
        ring = _shortest_circle(graph, start)
        if ring:
            seen.update(ring)
            steps = [graph[x][y] for x, y in zip(ring, ring[1:] + ring[:1])]
            found.append(" -> ".join(ring + ring[:1]) + "  via " + ", ".join(f"{a} -> {b}" for a, b in steps))
    return found


def _shortest_circle(graph: dict[str, dict[str, Edge]], start: str) -> list[str]:
    """The layers of a shortest import circle through ``start`` (breadth first), or ``[]``."""
    paths = [[start]]
    visited = {start}
    while paths:
        grown = []
        for path in paths:
            for nxt in sorted(graph[path[-1]]):
                if nxt == start:
                    return path
                if nxt not in visited:
                    visited.add(nxt)
                    grown.append(path + [nxt])
        paths = grown
    return []


def test_no_module_imports_a_later_layer() -> None:
    edges = import_edges()
    assert len(edges) > 300 and {layer_of(b) for _, b in edges} == set(LAYERS)  # every layer was read
    bad = upward(edges)
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_circular_import_between_packages() -> None:
    bad = cycles(import_edges())
    assert not bad, "circular imports between packages:\n" + "\n".join(bad)


def test_the_checks_see_an_upward_and_a_circular_import() -> None:
    edges = {("producers.bridge", "streams.dlq"), ("streams.fetch", "ocrstream.objectstore"),
             ("streams.app", "producers.media"), ("ocrstream.objectstore", "ocr_agents.errors"),
             ("ocrstream.cli.main", "producers.cli"), ("producers.cli", "ocrstream.cli")}
    assert upward(edges) == [
        "ocrstream.objectstore -> ocr_agents.errors (ground imports the later layer ocr_agents)",
        "producers.bridge -> streams.dlq (producers imports the later layer streams)",
        "producers.cli -> ocrstream.cli (producers imports the later layer roof)",
    ]
    assert cycles(edges) == [
        "producers -> roof -> producers  via producers.cli -> ocrstream.cli, ocrstream.cli.main -> producers.cli",
        "streams -> producers -> streams  via streams.app -> producers.media, producers.bridge -> streams.dlq",
    ]


def test_every_module_the_architecture_map_names_exists() -> None:
    text = ARCHITECTURE.read_text()
    spans = set(re.findall(r"`([^`\s]+)`", text))
    files = {s for s in spans if re.fullmatch(r"[\w./-]+\.(py|avsc|sql|js|html|md)", s)}
    dotted = {s for s in spans if re.fullmatch(r"(%s)(\.\w+)*" % "|".join(PACKAGES), s)}
    missing = sorted([f for f in files if not (REPO / f).is_file()] + [m for m in dotted if module_path(m) is None])
    assert not missing, "docs/architecture.md names modules that do not exist:\n" + "\n".join(missing)
    assert len(files) + len(dotted) > 40  # the map names the files of the data flow
    assert set(PACKAGES) <= {f.split("/")[0] for f in files} | {m.split(".")[0] for m in dotted}
