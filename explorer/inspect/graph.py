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
    block: str | None = None  # the repeated block this layer belongs to (for a folded run: its first block)
    layers: int = 1
    label: str = ""  # what it is in plain words: "conv 3x3, 64 /2", "conv3_x block 2", "Block35 ×10"
    repeat: int = 1  # a run of this many identical blocks folded into one node


@dataclass
class LayerGraph:
    """Nodes in topological order (inputs first) and directed edges ``(source, target)`` by name."""

    nodes: list[Node]
    edges: list[tuple[str, str]]
    blocks: dict[str, list[str]] = field(default_factory=dict)  # block name -> its layer names, in order
    shapes: dict[tuple[str, str], str] = field(default_factory=dict)  # edge -> shape of the tensor on it

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


def _keras_tensors(obj):
    """Every serialised Keras tensor (``{"class_name": "__keras_tensor__", ...}``) in a node's args."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            yield obj["config"]
            return
        for value in obj.values():
            yield from _keras_tensors(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _keras_tensors(value)


@dataclass(frozen=True)
class Wiring:
    """A functional model's graph as its public config states it (``model.get_config()``)."""

    parents: dict[str, list[str]]  # layer name -> names of the layers feeding it, in argument order
    shapes: dict[tuple[str, str], str]  # (source, target) -> shape of the tensor on that edge
    outputs: list[str]  # names of the output layers, main output first
    configs: dict[str, dict]  # layer name -> its serialised layer config ({"class_name", "config", ...})


def _shape_of(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _output_names(spec) -> list[str]:
    """``output_layers`` is ``[name, node, tensor]``, a list of those, or a dict of those."""
    if isinstance(spec, dict):
        spec = list(spec.values())
    if spec and isinstance(spec[0], str):
        spec = [spec]
    return [entry[0] for entry in spec]


def wiring(model: keras.Model) -> Wiring:
    """Read a functional model's layer graph from ``model.get_config()``: each layer's ``inbound_nodes``
    entries are the serialised, stable form of the graph (the same that ``.keras`` files store)."""
    config = model.get_config()
    parents, shapes, configs = {}, {}, {}
    for layer in config["layers"]:
        name = layer["name"]
        configs[name] = layer
        names = []
        for tensor in _keras_tensors(layer.get("inbound_nodes", [])):
            source = tensor["keras_history"][0]
            if source not in names:
                names.append(source)
                shapes[(source, name)] = _shape_of(tensor.get("shape", ()))
        parents[name] = names
    return Wiring(parents, shapes, _output_names(config["output_layers"]), configs)


def layer_parents(model: keras.Model) -> dict[str, list[str]]:
    """Layer name -> the names of the layers feeding it (from the model's public config)."""
    return wiring(model).parents


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


def _category(cls: str, n_inputs: int) -> str:
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


def _pair(v) -> str:
    v = v if isinstance(v, (list, tuple)) else (v, v)
    return "x".join(str(d) for d in v)


def _stride(v) -> str:
    v = v if isinstance(v, (list, tuple)) else (v, v)
    return f" /{v[0]}" if any(d != 1 for d in v) else ""


_ACTIVATIONS = {"relu": "ReLU", "relu6": "ReLU6", "softmax": "softmax", "sigmoid": "sigmoid", "tanh": "tanh",
                "swish": "swish", "silu": "swish", "gelu": "GELU"}


def readable_label(layer_config: dict) -> str:
    """What a layer does in plain words, from its serialised config (``conv 3x3, 64 /2``, ``batch norm``,
    ``ReLU``), instead of Keras' default names (``conv2d_27``, ``custom_scale_layer_2``)."""
    cls, c = layer_config.get("class_name", ""), layer_config.get("config", {})
    act = c.get("activation")
    act = act if isinstance(act, str) else None
    tail = f", {_ACTIVATIONS.get(act, act)}" if act and act != "linear" else ""
    if cls == "Conv2D":
        return f"conv {_pair(c['kernel_size'])}, {c['filters']}{_stride(c['strides'])}{tail}"
    if cls == "SeparableConv2D":
        return f"separable conv {_pair(c['kernel_size'])}, {c['filters']}{_stride(c['strides'])}{tail}"
    if cls == "DepthwiseConv2D":
        return f"depthwise conv {_pair(c['kernel_size'])}{_stride(c['strides'])}{tail}"
    if cls == "Dense":
        return f"dense {c['units']}{tail}"
    if cls in ("MaxPooling2D", "AveragePooling2D"):
        kind = "max" if cls.startswith("Max") else "average"
        return f"{kind} pool {_pair(c['pool_size'])}{_stride(c['strides'] or c['pool_size'])}"
    if cls == "Activation":
        return _ACTIVATIONS.get(act or c.get("activation"), str(c.get("activation")))
    if cls == "ReLU":
        return "ReLU6" if c.get("max_value") == 6 else "ReLU"
    if cls == "CustomScaleLayer":  # Inception-ResNet: x + scale * F(x)
        return f"add: x + {c.get('scale', 1):g} F(x)"
    if cls == "Dropout":
        return f"dropout {c.get('rate', 0):g}"
    return {"InputLayer": "input image", "ImageNetPreprocess": "preprocess pixels", "Rescaling": "rescale",
            "BatchNormalization": "batch norm", "Add": "add", "Concatenate": "concatenate",
            "GlobalAveragePooling2D": "global average pool", "GlobalMaxPooling2D": "global max pool",
            "ZeroPadding2D": "zero padding", "Flatten": "flatten", "Reshape": "reshape",
            "Softmax": "softmax"}.get(cls, re.sub(r"(?<!^)(?=[A-Z])", " ", cls).lower())


# Paper names of blocks, from the block keys the Keras applications and our GoogLeNet use.
_INCEPTION_V3 = {**{f"mixed{i}": "Inception (fig. 5)" for i in range(3)}, "mixed3": "grid reduction",
                 **{f"mixed{i}": "Inception (fig. 6)" for i in range(4, 8)}, "mixed8": "grid reduction",
                 "mixed9": "Inception (fig. 7)", "mixed10": "Inception (fig. 7)"}
_PAPER_NAMES = [
    (re.compile(r"^conv(\d+)_block(\d+)$"), lambda m: (f"conv{m[1]}_x block", m[2])),
    (re.compile(r"^block(35|17|8)_(\d+)$"), lambda m: (f"Block{m[1]}", m[2])),
    (re.compile(r"^block_(\d+)$"), lambda m: ("inverted residual", m[1])),
    (re.compile(r"^expanded_conv$"), lambda m: ("inverted residual", "0")),
    (re.compile(r"^block(\d+)$"), lambda m: ("conv block", m[1])),
    (re.compile(r"^inception_(\d[a-z])$"), lambda m: ("inception", f"({m[1]})")),
    (re.compile(r"^aux(\d)$"), lambda m: ("auxiliary classifier", m[1])),
    (re.compile(r"^mobilenet_block_(\d+)$"), lambda m: ("depthwise-separable block", m[1])),
    (re.compile(r"^(mixed\d+)$"), lambda m: (_INCEPTION_V3.get(m[1], m[1]), m[1])),
    (re.compile(r"^conv1$"), lambda m: ("conv1 (stem)", None)),
    (re.compile(r"^pool1$"), lambda m: ("max pool (pool1)", None)),
    (re.compile(r"^mixed_5b$"), lambda m: ("Inception-A (mixed_5b)", None)),
    (re.compile(r"^mixed_6a$"), lambda m: ("Reduction-A (mixed_6a)", None)),
    (re.compile(r"^mixed_7a$"), lambda m: ("Reduction-B (mixed_7a)", None)),
]


def paper_name(block: str) -> tuple[str, str | None]:
    """(family, number) of a block in its paper's words: ``conv3_block2`` -> (``conv3_x block``, ``2``),
    ``block35_4`` -> (``Block35``, ``4``), ``inception_4a`` -> (``inception``, ``(4a)``)."""
    for pattern, name in _PAPER_NAMES:
        m = pattern.match(block)
        if m:
            return name(m)
    return block, None


def block_title(block: str) -> str:
    """One block's paper name: ``conv3_x block 2``, ``Block35 4``, ``inception (4a)``."""
    family, number = paper_name(block)
    return family if number is None else f"{family} {number}"


def layer_graph(model: keras.Model) -> LayerGraph:
    """Every layer of a functional model with its block, in topological order, read from the model's
    public config (:func:`wiring`) and ``model.layers``."""
    wired = wiring(model)
    layers = {layer.name: layer for layer in model.layers}
    parents = {name: [p for p in wired.parents.get(name, []) if p in layers] for name in layers}
    edges = [(p, name) for name, ps in parents.items() for p in ps]
    order = _topological(list(layers), edges)
    blocks = _find_blocks(wired.outputs[0], layers, order, parents, edges)
    block_of = {layer: b for b, members in blocks.items() for layer in members}
    nodes = []
    for name in order:
        cls = wired.configs[name]["class_name"] if name in wired.configs else type(layers[name]).__name__
        nodes.append(Node(name, cls, _category(cls, len(parents[name])), _shape_text(layers[name]),
                          int(layers[name].count_params()), block_of.get(name),
                          label=readable_label(wired.configs.get(name, {"class_name": cls}))))
    shapes = {e: wired.shapes.get(e, "?") for e in edges}
    return LayerGraph(nodes, edges, blocks, shapes)


def _find_blocks(main_out, layers, order, parents, edges) -> dict[str, list[str]]:
    # 1. Structural blocks: segments between cut layers of the main path that branch inside.
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


def _signature(graph: LayerGraph, block: str, by_name: dict) -> tuple:
    return tuple((by_name[m].type, by_name[m].label, by_name[m].output_shape, by_name[m].params)
                 for m in graph.blocks[block])


def repeated_runs(graph: LayerGraph) -> list[list[str]]:
    """Blocks in order, grouped into runs of identical blocks (same layers, shapes and parameters),
    each feeding the next: ResNet-50's conv3_x blocks 2-4, Inception-ResNet-v2's ten Block35."""
    by_name = {n.name: n for n in graph.nodes}
    edges = set(graph.edges)
    runs: list[list[str]] = []
    for block in graph.blocks:
        if runs:
            last = runs[-1][-1]
            if (family_of(last) == family_of(block)
                    and (graph.blocks[last][-1], graph.blocks[block][0]) in edges
                    and _signature(graph, last, by_name) == _signature(graph, block, by_name)):
                runs[-1].append(block)
                continue
        runs.append([block])
    return runs


def family_of(block: str) -> str:
    """The paper family of a block (``conv3_x block``); for a block named by Keras defaults
    (``activation_3``), the name without its counter, so identical unnamed blocks still group."""
    if any(pattern.match(block) for pattern, _ in _PAPER_NAMES):
        return paper_name(block)[0]
    return re.sub(r"_\d+$", "", block)


def run_title(run: list[str]) -> str:
    """``conv3_x block 2`` for one block; ``Block35 ×10 (1-10)`` for a run of identical ones."""
    if len(run) == 1:
        return block_title(run[0])
    family, first = paper_name(run[0])
    last = paper_name(run[-1])[1]
    return f"{family_of(run[0])} ×{len(run)}" + (f" ({first}-{last})" if first and last else "")


def collapse(graph: LayerGraph, expand: str | None = None, group: bool = True) -> LayerGraph:
    """One node per block (a square in the drawing), except block ``expand`` shown layer by layer.

    ``group``: a run of identical blocks becomes one node labelled ``×N`` (opening one of them splits
    the run around it)."""
    if expand is not None and expand not in graph.blocks:
        raise ValueError(f"No block named '{expand}'. Blocks: {', '.join(graph.blocks)}.")
    by_name = {n.name: n for n in graph.nodes}
    runs = repeated_runs(graph) if group else [[b] for b in graph.blocks]
    pieces: list[list[str]] = []
    for run in runs:
        if expand in run:
            i = run.index(expand)
            pieces += [p for p in (run[:i], [expand], run[i + 1:]) if p]
        else:
            pieces.append(run)
    rep, folded = {}, {}
    for piece in pieces:
        if piece == [expand]:
            continue
        name = piece[0] if len(piece) == 1 else f"{piece[0]} ×{len(piece)}"
        folded[name] = piece
        for b in piece:
            for m in graph.blocks[b]:
                rep[m] = name
    nodes, seen = [], set()
    for n in graph.nodes:
        r = rep.get(n.name, n.name)
        if r in seen:
            continue
        seen.add(r)
        if r == n.name and r not in folded:
            nodes.append(n)
            continue
        piece = folded[r]
        members = [by_name[m] for b in piece for m in graph.blocks[b]]
        nodes.append(Node(r, _block_kind({m.category for m in members}), "block", members[-1].output_shape,
                          sum(m.params for m in members), piece[0], len(members), run_title(piece), len(piece)))
    edges, shapes = [], {}
    for s, t in graph.edges:
        e = (rep.get(s, s), rep.get(t, t))
        if e[0] != e[1] and e not in shapes:
            edges.append(e)
            shapes[e] = graph.shapes.get((s, t), "?")
    return LayerGraph(nodes, edges, graph.blocks, shapes)


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
    return [{"#": i, "layer": n.name, "what it is": n.label, "type": n.type,
             "block": block_title(n.block) if n.block else "", "output shape": n.output_shape,
             "parameters": n.params, "inputs": ", ".join(parents[n.name])}
            for i, n in enumerate(graph.nodes)]


def block_summary(graph: LayerGraph) -> list[dict]:
    """One row per block: name, kind, layers, parameters (for a 'which block to open' picker)."""
    by_name = {n.name: n for n in graph.nodes}
    rows = []
    for b, members in graph.blocks.items():
        nodes = [by_name[m] for m in members]
        rows.append({"block": b, "paper name": block_title(b), "kind": _block_kind({n.category for n in nodes}), "layers": len(nodes),
                     "parameters": sum(n.params for n in nodes), "output shape": nodes[-1].output_shape})
    return rows


__all__ = ["CATEGORIES", "GraphLayout", "LayerGraph", "Node", "Wiring", "block_key", "block_summary", "block_title",
           "collapse", "layer_graph", "layer_parents", "layer_table", "layout", "paper_name", "readable_label",
           "repeated_runs", "run_title", "wiring"]
