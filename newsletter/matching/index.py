"""Indexes: one text (word/stem -> positions) and a set of papers (word/stem -> papers).

A :class:`PaperIndex` is built once per digest set and shared by every subscriber.
Papers are numbered by *bit*: bit ``b`` is the ``b``-th paper in tie order (upvotes
descending, missing as 0, then digest order), so sets of papers are plain ints and
ascending bits already break score ties. Answers per compiled entry are cached on the
index, so an entry shared by many profiles is looked up once per digest set.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache

from newsletter.digest import Paper
from newsletter.matching.profile import META_FIELDS, CompiledEntry, Term
from newsletter.matching.text import Token, stem, tokenize

__all__ = ["EntryMasks", "PaperIndex", "TextIndex", "iter_bits", "spread", "text_index"]

_NONE: tuple[int, ...] = ()
_STARTS_CACHE = 4096  # entries remembered per text

EntryMasks = tuple[int, int, int, int]
"""See :meth:`PaperIndex.entry_masks`."""


def iter_bits(mask: int) -> Iterable[int]:
    """The set bits of ``mask``, ascending."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


_BIN01 = bytes.maketrans(b"01", b"\x00\x01")


def spread(mask: int) -> int:
    """``mask`` with bit ``b`` moved to bit ``8 * b``: one byte per paper (0 or 1).

    The binary digits of ``mask`` read as base-256 digits, all in C (a loop over the
    bits costs a microsecond for a word that occurs in 40 papers)."""
    return int.from_bytes(format(mask, "b").encode("ascii").translate(_BIN01), "big")


def _prefixed(vocab: list[str], prefix: str) -> Iterable[str]:
    """The words of the sorted ``vocab`` that start with ``prefix``."""
    i = bisect_left(vocab, prefix)
    while i < len(vocab) and vocab[i].startswith(prefix):
        yield vocab[i]
        i += 1


def bit_masks(groups: Iterable[Iterable[TextIndex]]) -> tuple[dict[str, int], dict[str, int]]:
    """Per word and per stem, the bit set of the groups (papers, or a paper's authors)
    holding it: bit i for the i-th group."""
    words: dict[str, int] = {}
    stems: dict[str, int] = {}
    for bit, group in enumerate(groups):
        flag = 1 << bit
        for ti in group:
            for w in ti.vocabulary:
                words[w] = words.get(w, 0) | flag
            for st in ti.stems:
                stems[st] = stems.get(st, 0) | flag
    return words, stems


class TextIndex:
    """The words of one text, their spans, and where each word and stem occurs."""

    __slots__ = ("_starts", "_stem_pos", "_vocab", "_word_pos", "tokens")

    def __init__(self, text: str) -> None:
        self.tokens: tuple[Token, ...] = tokenize(text)
        word_pos: dict[str, list[int]] = {}
        for i, (word, _, _) in enumerate(self.tokens):
            word_pos.setdefault(word, []).append(i)
        stem_pos: dict[str, list[int]] = {}
        for word, where in word_pos.items():
            stem_pos.setdefault(stem(word), []).extend(where)
        self._word_pos = {w: tuple(p) for w, p in word_pos.items()}
        self._stem_pos = {s: tuple(sorted(p)) for s, p in stem_pos.items()}
        self._vocab = sorted(word_pos)
        self._starts: dict[int, tuple[int, ...]] = {}

    @property
    def stems(self) -> Iterable[str]:
        return self._stem_pos.keys()

    @property
    def vocabulary(self) -> list[str]:
        """The distinct words, sorted."""
        return self._vocab

    def positions(self, term: Term, stemming: bool) -> tuple[int, ...]:
        """Word positions where ``term`` occurs, ascending."""
        if term.prefix:
            found = [p for w in _prefixed(self._vocab, term.text) for p in self._word_pos[w]]
            return tuple(sorted(found))
        return (self._stem_pos if stemming else self._word_pos).get(term.text, _NONE)

    def occurrences(self, terms: tuple[Term, ...], stemming: bool) -> tuple[int, ...]:
        """Positions where the phrase ``terms`` starts (its words consecutive), ascending."""
        found = self.positions(terms[0], stemming)
        for k, term in enumerate(terms[1:], 1):
            if not found:
                break
            later = set(self.positions(term, stemming))
            found = tuple(p for p in found if p + k in later)
        return found

    def starts(self, entry: CompiledEntry) -> tuple[int, ...]:
        """Positions where ``entry`` starts, whatever its field restriction (cached)."""
        found = self._starts.get(entry.key)
        if found is None:
            found = self.occurrences(entry.terms, entry.stemming)
            if len(self._starts) >= _STARTS_CACHE:
                self._starts.clear()
            self._starts[entry.key] = found
        return found


@lru_cache(maxsize=1024)
def text_index(text: str) -> TextIndex:
    """The (cached) :class:`TextIndex` of ``text``."""
    return TextIndex(text)


class _FieldIndex:
    """One field of every paper: word/stem -> set of paper bits."""

    __slots__ = ("_pair_masks", "_prefix_masks", "_stem_masks", "_vocab", "_word_masks", "texts")

    def __init__(self, texts: Sequence[TextIndex]) -> None:
        self.texts = tuple(texts)
        self._word_masks, self._stem_masks = bit_masks((ti,) for ti in self.texts)
        self._vocab = sorted(self._word_masks)
        self._prefix_masks: dict[str, int] = {}
        # (word, next word) -> papers, stemming off and on; built for the first phrase
        self._pair_masks: list[dict[tuple[str, str], int] | None] = [None, None]

    def pair_masks(self, stemming: bool) -> dict[tuple[str, str], int]:
        """Every two consecutive words (or their stems) of a text -> the papers where they
        occur: a two-word phrase without prefixes is one look-up, and longer phrases are
        only checked word by word in the papers that have all of their pairs."""
        pairs = self._pair_masks[stemming]
        if pairs is None:
            pairs = {}
            for bit, ti in enumerate(self.texts):
                flag = 1 << bit
                seq = [w for w, _, _ in ti.tokens]
                if stemming:
                    seq = [stem(w) for w in seq]
                for pair in set(itertools.pairwise(seq)):
                    pairs[pair] = pairs.get(pair, 0) | flag
            self._pair_masks[stemming] = pairs
        return pairs

    def term_mask(self, term: Term, stemming: bool) -> int:
        if term.prefix:
            mask = self._prefix_masks.get(term.text)
            if mask is None:
                mask = 0
                for w in _prefixed(self._vocab, term.text):
                    mask |= self._word_masks[w]
                self._prefix_masks[term.text] = mask
            return mask
        return (self._stem_masks if stemming else self._word_masks).get(term.text, 0)

    def entry_mask(self, terms: tuple[Term, ...], stemming: bool) -> int:
        """The papers where the phrase ``terms`` occurs in this field."""
        mask = self.term_mask(terms[0], stemming)
        if len(terms) == 1:
            return mask
        for term in terms[1:]:
            if not mask:
                return 0
            mask &= self.term_mask(term, stemming)
        if not mask:
            return 0
        pairs = self.pair_masks(stemming)
        for a, b in itertools.pairwise(terms):
            if not (a.prefix or b.prefix):
                mask &= pairs.get((a.text, b.text), 0)
                if not mask:
                    return 0
        if len(terms) == 2 and not (terms[0].prefix or terms[1].prefix):
            return mask  # exact: the pair occurs
        return self._verified(mask, terms, stemming)

    def _verified(self, mask: int, terms: tuple[Term, ...], stemming: bool) -> int:
        """The papers of ``mask`` where ``terms`` occur consecutively."""
        found = 0
        for bit in iter_bits(mask):
            if self.texts[bit].occurrences(terms, stemming):
                found |= 1 << bit
        return found


class _NameIndex:
    """Names of every paper (its authors, or its organisation): a phrase matches within
    one name, never across two (``author:"lecun bob"`` does not join two authors)."""

    __slots__ = ("_stem_masks", "_vocab", "_word_masks", "texts")

    def __init__(self, names: Sequence[Sequence[str]]) -> None:
        self.texts = tuple(tuple(text_index(n) for n in group) for group in names)
        self._word_masks, self._stem_masks = bit_masks(self.texts)
        self._vocab = sorted(self._word_masks)

    def entry_mask(self, terms: tuple[Term, ...], stemming: bool) -> int:
        mask = -1
        for term in terms:
            if term.prefix:
                found = 0
                for w in _prefixed(self._vocab, term.text):
                    found |= self._word_masks[w]
            else:
                found = (self._stem_masks if stemming else self._word_masks).get(term.text, 0)
            mask &= found
            if not mask:
                return 0
        out = 0
        for bit in iter_bits(mask):
            if any(ti.occurrences(terms, stemming) for ti in self.texts[bit]):
                out |= 1 << bit
        return out


class PaperIndex:
    """Every paper of a digest set, indexed by field; build once, match many profiles."""

    __slots__ = (
        "__weakref__",  # the engine keeps its answers per index in a WeakKeyDictionary
        "_abstract",
        "_authors",
        "_ids",
        "_org",
        "_title",
        "all",
        "by_bit",
        "entry_cache",
        "papers",
        "position_of_bit",
    )

    def __init__(self, papers: Sequence[Paper]) -> None:
        self.papers: tuple[Paper, ...] = tuple(papers)
        order = sorted(range(len(self.papers)), key=lambda i: (-(self.papers[i].upvotes or 0), i))
        #: bit -> position in ``papers``; bit -> paper
        self.position_of_bit: tuple[int, ...] = tuple(order)
        self.by_bit: tuple[Paper, ...] = tuple(self.papers[i] for i in order)
        #: the set of every paper
        self.all: int = (1 << len(order)) - 1
        self._title = _FieldIndex([text_index(p.title) for p in self.by_bit])
        self._abstract = _FieldIndex([text_index(p.abstract) for p in self.by_bit])
        self._authors: _NameIndex | None = None  # built on first use of author:
        self._org: _NameIndex | None = None  # and of org:
        ids: dict[str, int] = {}
        for bit, paper in enumerate(self.by_bit):
            for key in paper.keys:  # every identity: id, arXiv id, normalised title
                ids[key] = ids.get(key, 0) | 1 << bit
        self._ids = ids
        #: :meth:`entry_masks` answers by :attr:`CompiledEntry.key` (read only)
        self.entry_cache: dict[int, EntryMasks] = {}

    def __len__(self) -> int:
        return len(self.papers)

    def entry_masks(self, entry: CompiledEntry) -> EntryMasks:
        """Where ``entry`` occurs, within the fields it is restricted to (cached).

        ``(title, abstract, either, points)``: the first three are bit sets of papers;
        ``points`` packs the score the entry gives each paper (3 for the title plus 1
        for the abstract) into byte ``b`` for bit ``b``, so that summing the ``points``
        of up to 63 entries gives every paper's score at once.
        """
        found = self.entry_cache.get(entry.key)
        if found is None and entry.field in META_FIELDS:
            names = self._names(entry.field)
            mask = names.entry_mask(entry.terms, entry.stemming)
            found = (mask, 0, mask, 3 * spread(mask))  # scores like a title hit
            self.entry_cache[entry.key] = found
        if found is None:
            title = 0 if entry.field == "abstract" else self._title.entry_mask(entry.terms, entry.stemming)
            abstract = 0 if entry.field == "title" else self._abstract.entry_mask(entry.terms, entry.stemming)
            found = (title, abstract, title | abstract, 3 * spread(title) + spread(abstract))
            self.entry_cache[entry.key] = found
        return found

    def _names(self, field: str | None) -> _NameIndex:
        if field == "author":
            if self._authors is None:
                self._authors = _NameIndex([p.author_names for p in self.by_bit])
            return self._authors
        if self._org is None:
            self._org = _NameIndex([(p.organization,) if p.organization else () for p in self.by_bit])
        return self._org

    def id_mask(self, ids: Collection[str]) -> int:
        """The bit set of the papers one of whose identities (:attr:`Paper.keys`) is in ``ids``."""
        mask = 0
        if len(ids) <= len(self._ids):
            for paper_id in ids:
                mask |= self._ids.get(paper_id, 0)
        else:
            for paper_id, bits in self._ids.items():
                if paper_id in ids:
                    mask |= bits
        return mask
