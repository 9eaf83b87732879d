"""Layer graphs: every layer and edge, repeated blocks found from the structure and folded, layout."""

import keras
import pytest
from keras import layers

import explorer
from explorer import blocks, graph as g


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
    assert add.category == "merge: add" and add.output_shape == "(None, 16, 16, 8)"


def test_residual_blocks_are_found_folded_and_opened():
    graph = g.layer_graph(_tiny_resnet(3))
    assert len(graph.blocks) == 3 and all(len(m) == 4 for m in graph.blocks.values())  # f1, f2, add, relu
    folded = g.collapse(graph)
    assert len(folded.nodes) == len(graph.nodes) - 3 * 3
    assert {n.type for n in folded.nodes if n.category == "block"} == {"residual block"}
    assert g.layout(folded).skips == frozenset()  # the skips are inside the squares
    second = list(graph.blocks)[1]
    opened = g.collapse(graph, expand=second)
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
    kinds = {b: n.type for b in graph.blocks for n in [g.collapse(graph).node(b)]}
    residual = sorted(int(b.split("_")[1]) for b, k in kinds.items() if k == "inverted residual block")
    assert residual == [2, 4, 5, 7, 8, 9, 11, 12, 14, 15]  # the blocks that keep their shape
    lay = g.layout(g.collapse(graph, expand="block_2"))
    assert lay.skips == {("block_1", "block_2_add")}


@pytest.mark.parametrize("name, n_blocks, folded_under", [
    ("resnet50", 18, 30),
    pytest.param("inception_resnet_v2", 43, 80, marks=pytest.mark.slow),  # 783 layers: ~10-25 s to build
])
def test_large_models_fold_to_a_readable_size(name, n_blocks, folded_under):
    model = explorer.load_model(name, weights=None)
    graph = g.layer_graph(model)
    assert graph.params == model.count_params()
    assert len(graph.blocks) == n_blocks
    folded = g.collapse(graph)
    assert len(folded.nodes) < folded_under
    kinds = [n.type for n in folded.nodes]
    if name == "resnet50":
        assert kinds.count("residual block") == 16 and "conv3_block4" in graph.blocks
    else:
        assert kinds.count("Inception-ResNet block") == 40  # 10 x block35, 20 x block17, 10 x block8


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
    assert len(add["inputs"].split(", ")) == 2 and add["block"]
