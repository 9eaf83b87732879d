"""Layer graphs: every layer and edge, repeated blocks found from the structure and folded, layout."""

import re

import keras
import pytest
from keras import layers

import explorer
from explorer.models import blocks
from explorer.inspect import graph as g
from explorer.inspect.graph_drawing import drawing, overlapping_labels, short_shape
from tests.conftest import ROOT


def _tiny_resnet(n_blocks=3):
    """Auto-named layers only, so blocks must be found from the structure, not from names."""
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, padding="same")(inputs)
    for _ in range(n_blocks):
        f = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        f = layers.Conv2D(8, 3, padding="same")(f)
        x = layers.Activation("relu")(layers.Add()([x, f]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(5)(x))


def test_every_layer_edge_and_parameter():
    model = _tiny_resnet()
    graph = g.layer_graph(model)
    assert [n.name for n in graph.nodes] == [layer.name for layer in model.layers]
    assert graph.params == model.count_params()
    # input->conv, 3 x (x->f1, f1->f2, x->add, f2->add, add->relu), relu->gap, gap->dense
    assert len(graph.edges) == 1 + 3 * 5 + 2
    add = next(n for n in graph.nodes if n.type == "Add")
    assert add.category == "merge: add" and add.output_shape == "(None, 16, 16, 8)" and add.label == "add"
    first_conv = graph.nodes[1]
    assert first_conv.label == "conv 3x3, 8" and graph.shapes[(graph.nodes[0].name, first_conv.name)] == "(None, 16, 16, 3)"
    assert len(g.layer_parents(model)[add.name]) == 2


def test_residual_blocks_are_found_folded_and_opened():
    graph = g.layer_graph(_tiny_resnet(3))
    assert len(graph.blocks) == 3 and all(len(m) == 4 for m in graph.blocks.values())  # f1, f2, add, relu
    folded = g.collapse(graph, group=False)
    assert len(folded.nodes) == len(graph.nodes) - 3 * 3
    assert {n.type for n in folded.nodes if n.category == "block"} == {"residual block"}
    assert g.layout(folded).skips == frozenset()  # the skips are inside the squares
    grouped = g.collapse(graph)  # three identical blocks in a row: one node "×3"
    (run,) = [n for n in grouped.nodes if n.category == "block"]
    assert run.repeat == 3 and "×3" in run.label and run.layers == 12 and len(grouped.nodes) == len(folded.nodes) - 2
    second = list(graph.blocks)[1]
    opened = g.collapse(graph, expand=second)  # splits the run: block 1, block 2 opened, block 3
    assert len(opened.nodes) == len(folded.nodes) + 3
    skips = g.layout(opened).skips
    assert len(skips) == 1
    (source, target), = skips
    assert source == list(graph.blocks)[0] and target in graph.blocks[second]
    with pytest.raises(ValueError, match="No block named"):
        g.collapse(graph, expand="nope")


def test_inception_branches_sit_side_by_side():
    graph = g.layer_graph(blocks.inception_block_model((8, 8, 16)))
    lay = g.layout(graph)
    first = [n for n in ("inception_3a_1x1", "inception_3a_3x3_reduce", "inception_3a_5x5_reduce", "inception_3a_pool")]
    assert {lay.positions[n][1] for n in first} == {1}  # same rank, right under the input
    assert len({lay.positions[n][0] for n in first}) == 4  # distinct columns
    assert lay.positions["inception_3a_output"][1] == 3
    assert not lay.skips  # concatenation merges branches; no skip connection


def test_googlenet_modules_and_auxiliary_heads():
    graph = g.layer_graph(explorer.load_model("googlenet", weights=None))
    modules = [b for b in graph.blocks if b.startswith("inception_")]
    assert modules == ["inception_3a", "inception_3b", "inception_4a", "inception_4b", "inception_4c",
                       "inception_4d", "inception_4e", "inception_5a", "inception_5b"]
    folded = g.collapse(graph)
    assert len(folded.nodes) < 30 < len(graph.nodes)
    assert ("inception_4a", "aux1") in folded.edges and ("inception_4d", "aux2") in folded.edges
    assert folded.node("inception_3a").type == "Inception block"
    assert folded.node("aux1").type == "classifier head"


def test_mobilenet_v2_inverted_residual_blocks(mobilenet_v2):
    graph = g.layer_graph(mobilenet_v2)
    assert list(graph.blocks) == ["expanded_conv"] + [f"block_{i}" for i in range(1, 17)]
    kinds = {b: n.type for b in graph.blocks for n in [g.collapse(graph, group=False).node(b)]}
    residual = sorted(int(b.split("_")[1]) for b, k in kinds.items() if k == "inverted residual block")
    assert residual == [2, 4, 5, 7, 8, 9, 11, 12, 14, 15]  # the blocks that keep their shape
    lay = g.layout(g.collapse(graph, expand="block_2"))
    assert lay.skips == {("block_1", "block_2_add")}


@pytest.mark.parametrize("name, n_layers, n_blocks, n_folded, runs", [
    ("resnet50", 178, 18, 14, ["conv2_x block ×2 (2-3)", "conv3_x block ×3 (2-4)", "conv4_x block ×5 (2-6)",
                               "conv5_x block ×2 (2-3)"]),
    pytest.param("inception_resnet_v2", 783, 43, 31, ["Block35 ×10 (1-10)", "Block17 ×20 (1-20)", "Block8 ×9 (1-9)"],
                 marks=pytest.mark.slow),  # 783 layers: ~10-25 s to build
])
def test_large_models_fold_to_a_readable_size(name, n_layers, n_blocks, n_folded, runs):
    model = explorer.load_model(name, weights=None)
    graph = g.layer_graph(model)
    assert len(graph.nodes) == n_layers and graph.params == model.count_params()
    assert len(graph.blocks) == n_blocks
    kinds = [n.type for n in g.collapse(graph, group=False).nodes]
    if name == "resnet50":
        assert kinds.count("residual block") == 16 and "conv3_block4" in graph.blocks
    else:
        assert kinds.count("Inception-ResNet block") == 40  # 10 x block35, 20 x block17, 10 x block8
    folded = g.collapse(graph)  # runs of identical blocks: one node each
    assert len(folded.nodes) == n_folded
    assert [n.label for n in folded.nodes if n.repeat > 1] == runs
    assert folded.params == graph.params
    # Readable names everywhere: no Keras default names (conv2d_27, custom_scale_layer_2) in any label.
    for shown in (graph, folded):
        assert not [n.label for n in shown.nodes if re.search(r"_\d+$|conv2d|custom_scale", n.label)]


@pytest.mark.parametrize("block, title", [
    ("conv3_block2", "conv3_x block 2"), ("inception_4a", "inception (4a)"), ("block35_4", "Block35 4"),
    ("block_3", "inverted residual 3"), ("block2", "conv block 2"), ("aux1", "auxiliary classifier 1"),
    ("mobilenet_block_5", "depthwise-separable block 5"), ("mixed_6a", "Reduction-A (mixed_6a)"),
])
def test_paper_names(block, title):
    assert g.block_title(block) == title


@pytest.mark.parametrize("config, label", [
    ({"class_name": "Conv2D", "config": {"kernel_size": [7, 7], "filters": 64, "strides": [2, 2],
                                         "activation": "relu"}}, "conv 7x7, 64 /2, ReLU"),
    ({"class_name": "DepthwiseConv2D", "config": {"kernel_size": [3, 3], "strides": [1, 1],
                                                  "activation": "linear"}}, "depthwise conv 3x3"),
    ({"class_name": "MaxPooling2D", "config": {"pool_size": [3, 3], "strides": [2, 2]}}, "max pool 3x3 /2"),
    ({"class_name": "CustomScaleLayer", "config": {"scale": 0.17}}, "add: x + 0.17 F(x)"),
    ({"class_name": "BatchNormalization", "config": {}}, "batch norm"),
    ({"class_name": "ReLU", "config": {"max_value": 6.0}}, "ReLU6"),
    ({"class_name": "Dense", "config": {"units": 1000, "activation": "softmax"}}, "dense 1000, softmax"),
])
def test_readable_labels(config, label):
    assert g.readable_label(config) == label


@pytest.mark.parametrize("name, expand", [
    ("resnet50", None), ("resnet50", "conv3_block2"), ("googlenet", None), ("googlenet", "inception_4a"),
    ("mobilenet_v2", "block_2"), ("inception_v3", None), ("inception_v3", "mixed3"), ("vgg16", None),
])
def test_labels_never_overlap_and_the_drawing_fills_the_width(name, expand):
    graph = g.layer_graph(explorer.load_model(name, weights=None))
    shown = g.collapse(graph, expand)
    d = drawing(shown, g.layout(shown), width=900, font_px=16)
    boxes = d.labels()
    assert len(d.node_labels) == len(shown.nodes) and set(d.shape_labels) == {s for s, _ in shown.edges}
    assert overlapping_labels(d) == []
    assert min(b.x0 for b in boxes) >= 0 and max(b.x1 for b in boxes) <= 900
    # Fills the width: labels reach across at least 60% of it (a 14-node chain wraps into columns).
    assert max(b.x1 for b in boxes) - min(b.x0 for b in boxes) > 0.6 * 900
    # Tensor shapes on the edges: the ones leaving each node, batch axis left out.
    assert all(re.fullmatch(r"[0-9?]+(×[0-9?]+)*", b.text.rstrip("…")) for b in d.shape_labels.values())
    # Overlap would be caught: two labels on one spot intersect.
    first = next(iter(d.node_labels.values()))
    assert first.intersects(first)


def test_shape_text():
    assert short_shape("(None, 56, 56, 256)") == "56×56×256" and short_shape("(None, 1000)") == "1000"


def test_graph_code_reads_no_private_keras_internals():
    """Issue 11: only public Keras (get_config's inbound_nodes, model.layers) in the graph code."""
    for path in ("explorer/inspect/graph.py", "explorer/inspect/graph_drawing.py", "explorer/models/blocks.py",
                 "explorer/models/googlenet.py",
                 "ui/graph_plot.py", "pages/architectures.py", "pages/inception_block.py", "pages/residual_block.py"):
        text = (ROOT / path).read_text()
        for private in ("_inbound_nodes", "_keras_history", "._nodes", "_operations"):
            assert private not in text, (path, private)


def test_block_names_and_table():
    assert g.block_key("conv3_block2_1_conv") == "conv3_block2"
    assert g.block_key("block35_10_mixed") == "block35_10"
    assert g.block_key("conv_dw_3_bn") == "mobilenet_block_3"
    assert g.block_key("block3_conv1") == "block3"
    assert g.block_key("predictions") is None
    model = _tiny_resnet(1)
    table = g.layer_table(g.layer_graph(model))
    assert len(table) == len(model.layers)
    add = next(r for r in table if r["type"] == "Add")
    assert len(add["inputs"].split(", ")) == 2 and add["block"] and add["what it is"] == "add"
    resnet = g.layer_table(g.layer_graph(explorer.load_model("resnet50", weights=None)))
    assert next(r for r in resnet if r["layer"] == "conv3_block2_1_conv")["block"] == "conv3_x block 2"
