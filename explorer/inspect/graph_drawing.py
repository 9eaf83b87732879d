"""Where every node, edge and label of a layer graph goes on screen, in pixels, so that no two labels
overlap and the drawing fills the page width.

:func:`drawing` takes a :class:`~explorer.graph.LayerGraph` and its :func:`~explorer.graph.layout`
(ranks top to bottom, parallel branches side by side) and wraps the ranks into as many columns as the
width allows (a long chain reads top to bottom, then continues at the top of the next column). Each
node's name sits to its right; the shape of the tensor it passes on sits beside its outgoing edge,
half a row lower (names and shapes never share a band). Label sizes are estimated from the font size (generously), and labels that would not fit
are shortened with an ellipsis (the full text stays in the hover).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .graph import GraphLayout, LayerGraph

CHAR_EM = 0.52  # an upper estimate of the mean character width, in font sizes (Source Sans: ~0.4-0.45 for text)
MARKER_PX = 22
GAP_PX = 14
MIN_ROWS = 8  # no column is shorter than this (a short graph stays one column)
MIN_CHARS = 14  # names are never cut shorter than this
SKIP_PX = 30  # room left of each column for skip-connection arcs


@dataclass(frozen=True)
class Box:
    """A label: its text and its bounding box in pixels (y grows downwards)."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    def intersects(self, other: "Box") -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1


@dataclass(frozen=True)
class GraphDrawing:
    width: float
    height: float
    points: dict[str, tuple[float, float]]  # node -> (x, y) in pixels
    node_labels: dict[str, Box]  # node -> its name, right of it
    shape_labels: dict[str, Box]  # node -> the shape of the tensor it passes on, beside its outgoing edge
    edges: list[tuple[str, str, list[float], list[float]]]  # (source, target, xs, ys) polylines
    columns: int
    row_px: float
    font_px: float
    shortened: int = 0  # names cut short with an ellipsis (full text in the hover)

    def labels(self) -> list[Box]:
        return [*self.node_labels.values(), *self.shape_labels.values()]


def text_width(text: str, font_px: float) -> float:
    return len(text) * CHAR_EM * font_px


def short_shape(shape: str) -> str:
    """``(None, 56, 56, 256)`` -> ``56×56×256`` (the batch axis is always there, so it is left out)."""
    dims = [d.strip() for d in shape.strip("()").split(",") if d.strip()]
    if dims and dims[0] == "None":
        dims = dims[1:]
    return "×".join("?" if d == "None" else d for d in dims) or shape


def _fit(text: str, room: float, font_px: float) -> str:
    if text_width(text, font_px) <= room:
        return text
    keep = max(1, int(room / (CHAR_EM * font_px)) - 1)
    return text[:keep] + "…"


def drawing(graph: LayerGraph, lay: GraphLayout, width: float = 1000, font_px: float = 16) -> GraphDrawing:
    """Pixel positions of every node, label and edge of ``graph`` laid out by ``lay``.

    As many columns as fill the width while at most one name in twenty has to be shortened (no column
    shorter than MIN_ROWS rows); else the column count that shortens the fewest names."""
    best = None
    for columns in range(max(1, math.ceil(lay.ranks / MIN_ROWS)), 0, -1):
        d = _place(graph, lay, width, font_px, columns)
        if d.shortened <= 0.05 * len(graph.nodes):
            return d
        if best is None or d.shortened < best.shortened:
            best = d
    return best


def _place(graph: LayerGraph, lay: GraphLayout, width: float, font_px: float, columns: int) -> GraphDrawing:
    row_px = 4 * font_px  # node labels on the row, shape labels half a row lower: never the same band
    labels = {n.name: n.label or n.name for n in graph.nodes}
    out_shape = {}
    for s, t in graph.edges:
        out_shape.setdefault(s, short_shape(graph.shapes.get((s, t), "?")))
    ranks = lay.ranks
    by_rank: dict[int, list[str]] = {}
    for name, (_, r) in lay.positions.items():
        by_rank.setdefault(r, []).append(name)
    xs_logical = {name: x for name, (x, _) in lay.positions.items()}
    # A node's cell: the marker, then its name (on the row) and its output shape (half a row lower).
    widest = max(text_width(t, font_px) for t in [*labels.values(), *out_shape.values()])

    def cell(text_px):
        return MARKER_PX + 6 + text_px + GAP_PX

    min_text = min(widest, MIN_CHARS * CHAR_EM * font_px)
    rows = math.ceil(ranks / columns)
    col_w = width / columns
    low, high = {}, {}  # each column's leftmost and rightmost branch (branches drift across ranks)
    for name, (lx, r) in lay.positions.items():
        c = r // rows
        low[c], high[c] = min(low.get(c, math.inf), lx), max(high.get(c, -math.inf), lx)
    reach = max(high[c] - low[c] for c in low)
    text_px = max(min_text, min(widest, (col_w - GAP_PX - SKIP_PX) / (reach + 1) - cell(0)))
    spacing = cell(text_px)
    points, node_labels, shape_labels = {}, {}, {}
    for r in range(ranks):  # branches left-aligned in their column, ``spacing`` apart
        column, row = divmod(r, rows)
        y = font_px * 2 + row * row_px
        for name in by_rank.get(r, []):
            points[name] = (column * col_w + SKIP_PX + MARKER_PX / 2 + (xs_logical[name] - low[column]) * spacing, y)
    for r in range(ranks):
        column = r // rows
        names = sorted(by_rank.get(r, []), key=lambda n: points[n][0])
        for i, name in enumerate(names):
            x, y = points[name]
            x0 = x + MARKER_PX / 2 + 6
            # A name may run up to its right-hand neighbour in the rank, else to the column's edge.
            end = points[names[i + 1]][0] - MARKER_PX / 2 - GAP_PX if i + 1 < len(names) else (column + 1) * col_w - GAP_PX
            room = max(end - x0, text_width("x…", font_px))
            text = _fit(labels[name], room, font_px)
            node_labels[name] = Box(text, x0, y - 0.6 * font_px, x0 + text_width(text, font_px), y + 0.6 * font_px)
            if name in out_shape:
                shape = _fit(out_shape[name], room, font_px)
                yy = y + row_px / 2
                shape_labels[name] = Box(shape, x0, yy - 0.55 * font_px, x0 + text_width(shape, font_px),
                                         yy + 0.55 * font_px)
    edges = []
    for s, t in graph.edges:
        (x0, y0), (x1, y1) = points[s], points[t]
        if int(x0 // col_w) == int(x1 // col_w):  # same column: straight down
            xs, ys = [x0, x1], [y0, y1]
        else:  # wraps to the next column: down, across, up to the top, into the node
            gutter = (math.floor(x0 / col_w) + 1) * col_w - GAP_PX / 2
            xs = [x0, x0, gutter, gutter, x1, x1]
            ys = [y0, y0 + row_px * 0.75, y0 + row_px * 0.75, y1 - row_px * 0.6, y1 - row_px * 0.6, y1]
        edges.append((s, t, xs, ys))
    height = font_px * 3 + rows * row_px
    shortened = sum(b.text != labels[n] for n, b in node_labels.items())
    return GraphDrawing(width, height, points, node_labels, shape_labels, edges, columns, row_px, font_px, shortened)


def overlapping_labels(d: GraphDrawing) -> list[tuple[Box, Box]]:
    """Pairs of labels whose boxes intersect (none, by construction)."""
    boxes = d.labels()
    return [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.intersects(b)]


__all__ = ["Box", "GraphDrawing", "drawing", "overlapping_labels", "short_shape", "text_width"]
