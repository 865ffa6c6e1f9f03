"""What an ONNX file may compute before onnxruntime is given it: the operators our exports use
(a feed-forward network, so a run's time is bounded by the file's size and the batch), with
no control flow (`Loop`, `If`, `Scan`), no subgraph, no local function and no operator that
makes a tensor of a size it reads at run time (`ConstantOfShape`, `Expand`, `Tile`). Read from
the protobuf bytes with the standard library: no onnx package, no torch.

A crafted file could otherwise pass every other check and spin in `session.run`, where no
signal reaches Python: a `Loop` of 2**62 iterations held `mnist predict` until SIGKILL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mnist_cli.errors import CheckpointError

# What torch's exporter writes for the networks of networks.py (see tests/test_onnx_bounds.py,
# which exports each registered model and finds its operators here), and the plain
# feed-forward operators a new network of the same kind would add.
ALLOWED_OPS = frozenset(
    {
        "Add",
        "AveragePool",
        "BatchNormalization",
        "Cast",
        "Concat",
        "Constant",
        "Conv",
        "Div",
        "Dropout",
        "Elu",
        "Flatten",
        "Gelu",
        "Gemm",
        "GlobalAveragePool",
        "GlobalMaxPool",
        "Identity",
        "LeakyRelu",
        "LogSoftmax",
        "MatMul",
        "MaxPool",
        "Mul",
        "Relu",
        "Reshape",
        "Sigmoid",
        "Softmax",
        "Squeeze",
        "Sub",
        "Tanh",
        "Transpose",
        "Unsqueeze",
    }
)
OPSET_DOMAINS = frozenset({"", "ai.onnx"})
# A window or padding wider than this is no network for 28x28 images; a huge one would make
# onnxruntime allocate and compute an output of that size.
MAX_WINDOW = 64
WINDOW_ATTRIBUTES = frozenset({"kernel_shape", "pads", "strides", "dilations"})

# Field numbers of onnx.proto3 (ModelProto, GraphProto, NodeProto, AttributeProto).
MODEL_GRAPH, MODEL_METADATA, MODEL_TRAINING_INFO, MODEL_FUNCTIONS = 7, 14, 20, 25
ENTRY_KEY, ENTRY_VALUE = 1, 2  # StringStringEntryProto
GRAPH_NODE, GRAPH_INITIALIZER = 1, 5
TENSOR_EXTERNAL_DATA, TENSOR_DATA_LOCATION = 13, 14  # TensorProto; location 1 is EXTERNAL
NODE_OP_TYPE, NODE_ATTRIBUTE, NODE_DOMAIN = 4, 5, 7
ATTRIBUTE_NAME, ATTRIBUTE_INT, ATTRIBUTE_GRAPH, ATTRIBUTE_INTS, ATTRIBUTE_GRAPHS = 1, 3, 6, 8, 11


class _Malformed(ValueError):
    """The bytes are not a protobuf message."""


def _varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise _Malformed("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of each field of one message; a length-delimited value
    is its bytes, a fixed-width one is skipped (given as 0)."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, wire, value
        elif wire == 2:
            size, at = _varint(data, at)
            if at + size > len(data):
                raise _Malformed("truncated field")
            yield number, wire, data[at : at + size]
            at += size
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
            if at > len(data):
                raise _Malformed("truncated field")
            yield number, wire, 0
        else:  # groups (3, 4) are not in onnx.proto3; 6 and 7 do not exist
            raise _Malformed(f"wire type {wire}")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass
class Node:
    """One node of the main graph, as far as the checks need it."""

    op_type: str = ""
    domain: str = ""
    has_subgraph: bool = False
    ints: dict[str, list[int]] = field(default_factory=dict)  # integer attributes by name


def _attribute(data: memoryview, node: Node) -> None:
    name, ints = "", []
    for number, wire, value in _fields(data):
        if number == ATTRIBUTE_NAME and wire == 2:
            name = bytes(value).decode("utf-8", "replace")
        elif number in (ATTRIBUTE_GRAPH, ATTRIBUTE_GRAPHS):
            node.has_subgraph = True
        elif number == ATTRIBUTE_INT and wire == 0:
            ints.append(_signed(value))
        elif number == ATTRIBUTE_INTS and wire == 0:
            ints.append(_signed(value))
        elif number == ATTRIBUTE_INTS and wire == 2:  # packed
            at = 0
            while at < len(value):
                item, at = _varint(value, at)
                ints.append(_signed(item))
    node.ints[name] = ints


def _node(data: memoryview) -> Node:
    node = Node()
    for number, wire, value in _fields(data):
        if wire != 2:
            continue
        if number == NODE_OP_TYPE:
            node.op_type = bytes(value).decode("utf-8", "replace")
        elif number == NODE_DOMAIN:
            node.domain = bytes(value).decode("utf-8", "replace")
        elif number == NODE_ATTRIBUTE:
            _attribute(value, node)
    return node


@dataclass
class Graph:
    """The parts of a model the checks read."""

    nodes: list[Node] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)  # the model's metadata_props
    external_data: bool = False  # an initializer kept in another file
    functions: int = 0  # model-local functions
    training_info: int = 0  # training graphs


def _entry(data: memoryview) -> tuple[str, str]:
    key = value = ""
    for number, wire, text in _fields(data):
        if wire == 2 and number in (ENTRY_KEY, ENTRY_VALUE):
            decoded = bytes(text).decode("utf-8", "replace")
            key, value = (decoded, value) if number == ENTRY_KEY else (key, decoded)
    return key, value


def _is_external(tensor: memoryview) -> bool:
    return any(
        number == TENSOR_EXTERNAL_DATA or (number == TENSOR_DATA_LOCATION and value == 1)
        for number, _, value in _fields(tensor)
    )


def read_graph(data: bytes) -> Graph:
    """The main graph's nodes and the metadata of serialised ONNX bytes; ValueError if they are
    not a protobuf."""
    graph = Graph()
    for number, wire, value in _fields(memoryview(data)):
        if number == MODEL_GRAPH and wire == 2:
            for inner, inner_wire, node in _fields(value):
                if inner == GRAPH_NODE and inner_wire == 2:
                    graph.nodes.append(_node(node))
                elif inner == GRAPH_INITIALIZER and inner_wire == 2:
                    graph.external_data |= _is_external(node)
        elif number == MODEL_METADATA and wire == 2:
            key, value = _entry(value)
            graph.metadata[key] = value
        elif number == MODEL_FUNCTIONS:
            graph.functions += 1
        elif number == MODEL_TRAINING_INFO:
            graph.training_info += 1
    return graph


def _refusal(graph: Graph) -> str | None:
    """Why the graph may not run, or None."""
    if graph.functions or graph.training_info:
        return "it defines its own functions or training graphs, which mnist exports never do"
    if not graph.nodes:
        return "its graph has no operators"
    for node in graph.nodes:
        name = node.op_type if node.domain in OPSET_DOMAINS else f"{node.domain}.{node.op_type}"
        if node.domain not in OPSET_DOMAINS or node.op_type not in ALLOWED_OPS:
            return f"it uses the operator {name[:40]!r}, which no mnist export uses"
        if node.has_subgraph:
            return f"its {name} holds a subgraph, which no mnist export does"
        for attribute, values in node.ints.items():
            if attribute in WINDOW_ATTRIBUTES and any(not 0 <= v <= MAX_WINDOW for v in values):
                return f"its {name} has {attribute} {values[:8]} (an mnist export's are <= 64)"
    return None


def parse(data: bytes, path: Path) -> Graph:
    """The graph of ONNX bytes, or a one-line CheckpointError if they are not ONNX or need
    another file (external data: never read from beside the model)."""
    try:
        graph = read_graph(data)
    except ValueError:
        raise CheckpointError(
            f"not a valid mnist export: {path}: damaged, truncated or not ONNX"
        ) from None
    if graph.external_data:
        raise CheckpointError(
            f"not a valid mnist export: {path}: it keeps its weights in external data files;"
            " export it as one file"
        )
    return graph


def check_graph(graph: Graph, path: Path) -> None:
    """A one-line CheckpointError unless the graph computes only what our exports compute."""
    why = _refusal(graph)
    if why is not None:
        raise CheckpointError(f"not a valid mnist export: {path}: {why}")
