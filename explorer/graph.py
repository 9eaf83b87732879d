"""A model's layer graph, ready to draw: layers, connections, and repeated blocks collapsed.

- :func:`layer_graph`: every layer of a functional Keras model as a :class:`Node` (type, colour
  category, output shape, parameters, the repeated block it belongs to) plus the edges between them.
- :func:`collapse`: one node per repeated block (ResNet stage blocks, Inception modules, MobileNet
  blocks...), except the one block the user chose to expand; hundreds of layers become a few dozen.
- :func:`layout`: a layered top-to-bottom drawing (input at the top, parallel branches side by side)
  and which edges are skip connections.
- :func:`layer_table`: one row per layer, for a searchable table.

Blocks are found from the structure, not from names: a *cut layer* is one that every path from the
input to the main output goes through; the layers between two cut layers form a block whenever they
branch (Inception modules, residual blocks, both). Chains of layers whose names share a block prefix
(``block1_conv1``, ``conv_dw_3_bn``, ``block_5_expand``) are grouped as well, so VGG and MobileNet
blocks collapse too.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import keras

# Colour categories of layer classes; anything else with several inputs is a merge, else "other".
CATEGORY_OF_CLASS = {
    "InputLayer": "input",
    "ImageNetPreprocess": "preprocess",
    "Rescaling": "preprocess",
    "Conv2D": "convolution",
    "DepthwiseConv2D": "depthwise convolution",
    "SeparableConv2D": "depthwise convolution",
    "Dense": "dense",
    "MaxPooling2D": "pooling",
    "AveragePooling2D": "pooling",
    "GlobalAveragePooling2D": "global pooling",
    "GlobalMaxPooling2D": "global pooling",
    "BatchNormalization": "normalisation",
    "Activation": "activation",
    "ReLU": "activation",
    "Softmax": "activation",
    "Add": "merge: add",
    "Concatenate": "merge: concatenate",
    "ZeroPadding2D": "padding / reshape",
    "Flatten": "padding / reshape",
    "Reshape": "padding / reshape",
    "Dropout": "dropout",
}
CATEGORIES = ("input", "preprocess", "convolution", "depthwise convolution", "normalisation", "activation",
              "pooling", "global pooling", "merge: add", "merge: concatenate", "padding / reshape", "dropout",
              "dense", "other", "block")

# Name prefixes that mark a repeated block in the Keras applications and in our GoogLeNet.
_BLOCK_NAME_PATTERNS = [
    re.compile(r"^(conv\d+_block\d+)_"),          # ResNet: conv3_block2_1_conv
    re.compile(r"^(block(?:35|17|8)_\d+)(?:_|$)"),  # Inception-ResNet-v2: block35_4_mixed
    re.compile(r"^(block_\d+)_"),                 # MobileNetV2: block_5_expand
    re.compile(r"^(expanded_conv)_"),             # MobileNetV2's first block
    re.compile(r"^(block\d+)_"),                  # VGG: block3_conv2
    re.compile(r"^(inception_\d[a-z])_"),         # GoogLeNet: inception_4b_3x3
    re.compile(r"^(aux\d)(?:_|$)"),               # GoogLeNet's auxiliary classifiers
    re.compile(r"^(conv\d+|pool\d+)_"),           # ResNet stem: conv1_conv, pool1_pad
]
_MOBILENET_V1 = re.compile(r"^conv_(?:dw|pw|pad)_(\d+)")  # conv_dw_3_bn -> mobilenet block 3


@dataclass(frozen=True)
class Node:
    """One layer, or one collapsed block standing for ``layers`` layers."""

    name: str
    type: str  # Keras class name, or the block kind for a collapsed block
    category: str  # colour category, one of CATEGORIES
    output_shape: str
    params: int
    block: str | None = None  # the repeated block this layer belongs to
    layers: int = 1


@dataclass
class LayerGraph:
    """Nodes in topological order (inputs first) and directed edges ``(source, target)`` by name."""

    nodes: list[Node]
    edges: list[tuple[str, str]]
    blocks: dict[str, list[str]] = field(default_factory=dict)  # block name -> its layer names, in order

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)


def block_key(layer_name: str) -> str | None:
    """The repeated block a layer name says it belongs to (``conv2_block1_1_conv`` -> ``conv2_block1``)."""
    m = _MOBILENET_V1.match(layer_name)
    if m:
        return f"mobilenet_block_{m.group(1)}"
    for pattern in _BLOCK_NAME_PATTERNS:
        m = pattern.match(layer_name)
        if m:
            return m.group(1)
    return None


def _shape_text(layer) -> str:
    try:
        out = layer.output
    except (AttributeError, ValueError):
        return "?"
    outs = out if isinstance(out, (list, tuple)) else [out]
    return ", ".join("(" + ", ".join("None" if d is None else str(d) for d in o.shape) + ")" for o in outs)


def _parents(model: keras.Model, layer) -> list[str]:
    """Names of the layers feeding ``layer`` inside ``model`` (a layer may be shared by several models)."""
    nodes = layer._inbound_nodes
    ours = [n for i, n in enumerate(nodes) if f"{id(layer)}_ib-{i}" in getattr(model, "_nodes", ())] or nodes[:1]
    names = []
    for node in ours:
        for tensor in node.input_tensors:
            name = tensor._keras_history.operation.name
            if name not in names:
                names.append(name)
    return names


def _topological(names: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Kahn's order, ties broken by the model's own layer order (stable, deterministic)."""
    index = {n: i for i, n in enumerate(names)}
    indegree = Counter(t for _, t in edges)
    children = defaultdict(list)
    for s, t in edges:
        children[s].append(t)
    ready = [index[n] for n in names if indegree[n] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        n = names[heapq.heappop(ready)]
        order.append(n)
        for c in children[n]:
            indegree[c] -= 1
            if indegree[c] == 0:
                heapq.heappush(ready, index[c])
    return order


def _category(layer, n_inputs: int) -> str:
    cls = type(layer).__name__
    if cls in CATEGORY_OF_CLASS:
        return CATEGORY_OF_CLASS[cls]
    return "merge: add" if n_inputs > 1 else "other"


def _block_kind(categories: set[str]) -> str:
    add, concat = "merge: add" in categories, "merge: concatenate" in categories
    depthwise = "depthwise convolution" in categories
    if add and concat:
        return "Inception-ResNet block"
    if add and depthwise:
        return "inverted residual block"
    if add:
        return "residual block"
    if concat:
        return "Inception block"
    if depthwise:
        return "depthwise-separable block"
    if "dense" in categories:
        return "classifier head"
    return "block"


def layer_graph(model: keras.Model) -> LayerGraph:
    """Every layer of a functional model with its block, in topological order."""
    layers = {layer.name: layer for layer in model.layers}
    parents = {name: [p for p in _parents(model, layer) if p in layers] for name, layer in layers.items()}
    edges = [(p, name) for name, ps in parents.items() for p in ps]
    order = _topological(list(layers), edges)
    blocks = _find_blocks(model, layers, order, parents, edges)
    block_of = {layer: b for b, members in blocks.items() for layer in members}
    nodes = [Node(name, type(layers[name]).__name__, _category(layers[name], len(parents[name])),
                  _shape_text(layers[name]), int(layers[name].count_params()), block_of.get(name))
             for name in order]
    return LayerGraph(nodes, edges, blocks)


def _find_blocks(model, layers, order, parents, edges) -> dict[str, list[str]]:
    # 1. Structural blocks: segments between cut layers of the main path that branch inside.
    outputs = model.outputs if isinstance(model.outputs, (list, tuple)) else [model.outputs]
    main_out = outputs[0]._keras_history.operation.name
    main = set()
    stack = [main_out]
    while stack:
        n = stack.pop()
        if n not in main:
            main.add(n)
            stack.extend(parents[n])
    path = [n for n in order if n in main]
    pos = {n: i for i, n in enumerate(path)}
    cover = [0] * (len(path) + 1)
    for s, t in edges:
        if s in pos and t in pos and pos[t] - pos[s] > 1:
            cover[pos[s] + 1] += 1
            cover[pos[t]] -= 1
    segments, segment, running = [], [], 0
    for i, n in enumerate(path):
        running += cover[i]
        if (running == 0 and not segment and segments and parents[n] == [segments[-1][-1]]
                and type(layers[n]).__name__ in ("Activation", "ReLU")):
            segments[-1].append(n)  # the activation right after an add belongs to its block
            continue
        segment.append(n)
        if running == 0:  # a cut layer closes the segment
            if len(segment) > 1:
                segments.append(segment)
            segment = []
    # 2. Name each structural block by its layers' block prefix, then join layers that share a block
    #    prefix and are connected (VGG and MobileNet blocks, aux classifiers, ResNet's relu after the add).
    key = {n: block_key(n) for n in order}
    root = {n: n for n in order}

    def find(n):
        while root[n] != n:
            root[n] = root[root[n]]
            n = root[n]
        return n

    for segment in segments:
        names = Counter(key[n] for n in segment if key[n] is not None)
        name = names.most_common(1)[0][0] if names else segment[-1]
        for n in segment:
            key[n] = name
            root[find(n)] = find(segment[0])
    for s, t in edges:
        if key[s] is not None and key[s] == key[t]:
            root[find(t)] = find(s)
    members = defaultdict(list)
    for n in order:
        members[find(n)].append(n)
    blocks: dict[str, list[str]] = {}
    for group in members.values():
        if len(group) > 1:
            blocks[_unique(key[group[0]] or group[-1], blocks)] = group
    # Blocks in topological order of their first layer.
    first = {n: i for i, n in enumerate(order)}
    return dict(sorted(blocks.items(), key=lambda kv: first[kv[1][0]]))


def _unique(name: str, taken) -> str:
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{name}_{i}", i + 1
    return candidate


def collapse(graph: LayerGraph, expand: str | None = None) -> LayerGraph:
    """One node per block (a square in the drawing), except block ``expand`` shown layer by layer."""
    if expand is not None and expand not in graph.blocks:
        raise ValueError(f"No block named '{expand}'. Blocks: {', '.join(graph.blocks)}.")
    by_name = {n.name: n for n in graph.nodes}
    rep = {}
    for n in graph.nodes:
        rep[n.name] = n.name if n.block in (None, expand) else n.block
    nodes, seen = [], set()
    for n in graph.nodes:
        r = rep[n.name]
        if r in seen:
            continue
        seen.add(r)
        if r == n.name:
            nodes.append(n)
        else:
            members = [by_name[m] for m in graph.blocks[r]]
            nodes.append(Node(r, _block_kind({m.category for m in members}), "block", members[-1].output_shape,
                              sum(m.params for m in members), r, len(members)))
    edges = list(dict.fromkeys((rep[s], rep[t]) for s, t in graph.edges if rep[s] != rep[t]))
    return LayerGraph(nodes, edges, graph.blocks)


@dataclass(frozen=True)
class GraphLayout:
    """Positions ``name -> (x, rank)`` (rank 0 at the top) and the edges that are skip connections."""

    positions: dict[str, tuple[float, int]]
    skips: frozenset[tuple[str, str]]

    @property
    def ranks(self) -> int:
        return 1 + max((r for _, r in self.positions.values()), default=0)


def layout(graph: LayerGraph) -> GraphLayout:
    """Layered drawing: rank = longest path from an input; parallel branches side by side.

    An edge into a merge (add) layer that jumps over other layers is a skip connection.
    """
    parents = defaultdict(list)
    for s, t in graph.edges:
        parents[t].append(s)
    rank: dict[str, int] = {}
    for n in graph.nodes:  # topological order
        rank[n.name] = 1 + max((rank[p] for p in parents[n.name] if p in rank), default=-1)
    by_rank = defaultdict(list)
    for i, n in enumerate(graph.nodes):
        by_rank[rank[n.name]].append((i, n.name))
    x: dict[str, float] = {}
    for r in sorted(by_rank):
        row = []
        for i, name in by_rank[r]:
            px = [x[p] for p in parents[name] if p in x]
            row.append((sum(px) / len(px) if px else 0.0, i, name))
        row.sort()
        centre = sum(b for b, _, _ in row) / len(row)
        for k, (_, _, name) in enumerate(row):
            x[name] = centre + k - (len(row) - 1) / 2
    kinds = {n.name: n.category for n in graph.nodes}
    skips = frozenset((s, t) for s, t in graph.edges
                      if kinds[t] == "merge: add" and rank[t] - rank[s] > 1)
    return GraphLayout({n: (x[n], rank[n]) for n in rank}, skips)


def layer_table(graph: LayerGraph) -> list[dict]:
    """One row per node: index, name, type, block, output shape, parameters, inputs."""
    parents = defaultdict(list)
    for s, t in graph.edges:
        parents[t].append(s)
    return [{"#": i, "layer": n.name, "type": n.type, "block": n.block or "", "output shape": n.output_shape,
             "parameters": n.params, "inputs": ", ".join(parents[n.name])}
            for i, n in enumerate(graph.nodes)]


def block_summary(graph: LayerGraph) -> list[dict]:
    """One row per block: name, kind, layers, parameters (for a 'which block to open' picker)."""
    by_name = {n.name: n for n in graph.nodes}
    rows = []
    for b, members in graph.blocks.items():
        nodes = [by_name[m] for m in members]
        rows.append({"block": b, "kind": _block_kind({n.category for n in nodes}), "layers": len(nodes),
                     "parameters": sum(n.params for n in nodes), "output shape": nodes[-1].output_shape})
    return rows


__all__ = ["CATEGORIES", "GraphLayout", "LayerGraph", "Node", "block_key", "block_summary", "collapse",
           "layer_graph", "layer_table", "layout"]
