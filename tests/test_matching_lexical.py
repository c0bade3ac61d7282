"""The shared phrases that explain a "more like these" hit (SPEC 4: the nearest liked
paper and the shared terms, never boilerplate), as a reader of the email sees them."""

from __future__ import annotations

from dataclasses import replace

from newsletter.config import Subscriber
from newsletter.digest import Paper
from newsletter.matching.lexical import shared_phrases
from newsletter.matching.likes import LikeState
from newsletter.matching.matcher import Matcher
from newsletter.matching.similarity import LikeHit
from newsletter.matching.text import stem, words

# Both abstracts share boilerplate (a code link, TeX, a scrape's glued words, phrases every
# abstract has) and one topic phrase.
BOILER = (
    "Code is available at https://github.com/xcyao00/toolkit. Over $\\mathbb{R}^d$ we use"
    " theproposed setup. Experimental results show promising gains in recent years."
)
TOPIC_A = Paper(
    "Graph colouring with tensor sketches",
    "We study graph colouring. Graph colouring of sparse inputs. " + BOILER,
    "a",
    "t",
)
TOPIC_B = Paper(
    "Fast graph colouring heuristics",
    "Graph colouring heuristics for dense inputs; graph colouring at scale. " + BOILER,
    "b",
    "t",
)


def test_shared_phrases_boilerplate_and_one_topic_phrase_shows_the_topic_phrase_only() -> None:
    assert shared_phrases(TOPIC_A, TOPIC_B, {}) == ("graph colouring",)


def test_shared_phrases_plural_singular_and_overlapping_variants_shown_once() -> None:
    a = Paper(
        "Self-supervised learning for graph neural networks",
        "Self-supervised learning of a graph neural network. The graph neural network is small.",
        "a",
        "t",
    )
    b = Paper(
        "Graph neural networks and self supervised pretraining",
        "Graph neural networks trained self supervised. Supervised learning baselines for graph neural networks.",
        "b",
        "t",
    )
    terms = shared_phrases(a, b, {})
    stems = [stem(w) for t in terms for w in t.split()]
    assert len(stems) == len(set(stems)), terms  # no stem twice: "graph neural networks" once, not "graph neural"
    assert "graph neural networks" in terms


def _subscriber(like: tuple[str, ...], keywords: tuple[str, ...] = ()) -> Subscriber:
    return Subscriber(
        email="r@example.org",
        name=None,
        keywords=keywords,
        require=(),
        exclude=(),
        max_papers=20,
        abstract_chars=500,
        send_empty=False,
        stemming=True,
        schedule=None,
        source="test",
        like=like,
        like_threshold=1.0,
        like_top=20,
        similarity="lexical",
    )


FILLER = "A promising recent direction with remarkable gains."
TOPICS = {
    "tensor": ("Tensor decomposition", "Tensor decomposition. " + FILLER),
    "speech": ("Speech recognition", "Speech recognition. " + FILLER),
    "protein": ("Protein folding", "Protein folding. " + FILLER),
}


def _corpus() -> list[Paper]:
    papers = []
    for topic, (title, abstract) in TOPICS.items():
        for n in range(5):
            papers.append(Paper(f"{title} {n}", abstract, f"{topic}{n}", "t"))
    return papers


def test_like_hits_a_word_every_paper_uses_once_is_not_named_beside_the_topic() -> None:
    papers = _corpus()  # "promising", "recent", "remarkable": once in each of 15 papers
    matches = Matcher(papers, LikeState()).match(_subscriber(("tensor0",)))
    hits = [h for m in matches if m.paper.id.startswith("tensor") for h in m.hits if isinstance(h, LikeHit)]
    assert hits
    for hit in hits:
        assert "tensor decomposition" in hit.terms
        filler = {"promising", "recent", "direction", "remarkable", "gains"}
        assert not any(filler & set(term.split()) for term in hit.terms), hit.terms


def test_like_hits_of_a_mixed_profile_all_carry_a_reason() -> None:
    papers = _corpus()
    # papers that share only the filler with every liked paper still come (like_top) and say why
    papers.append(Paper("Graph colouring heuristics", "Graph colouring. " + FILLER, "odd", "t"))
    matcher = Matcher(papers, LikeState())
    matches = matcher.match(_subscriber(("tensor0", "speech1"), keywords=("protein",)))
    assert {m.paper.id for m in matches} >= {"odd", "tensor1", "speech0", "protein2"}
    for m in matches:
        assert m.hits, m.paper.title
        for hit in m.hits:
            if isinstance(hit, LikeHit):
                assert hit.terms, m.paper.title  # never "like T" alone
                assert hit.keyword == f"like {hit.like}: shared terms {', '.join(hit.terms)}"
    odd = next(h for m in matches if m.paper.id == "odd" for h in m.hits if isinstance(h, LikeHit))
    assert len(odd.terms) == 1  # sharing only filler with the likes, it names one such word rather than none


def test_like_hits_semantic_neighbour_sharing_no_word_names_its_related_terms() -> None:
    liked = Paper("Hyperspectral camera design", "Compressive hyperspectral imaging instruments.", "liked", "t")
    near = Paper("Quantitative phase microscopy", "Optical phase microscopy through a metalens fiber.", "near", "t")
    others = [Paper(f"Speech recognition {n}", "Speech recognition with attention.", f"s{n}", "t") for n in range(4)]
    sub = replace(_subscriber(("liked",)), similarity="semantic")
    matches = Matcher([liked, near, *others], LikeState()).match(sub)
    hit = next(h for m in matches if m.paper.id == "near" for h in m.hits if isinstance(h, LikeHit))
    assert hit.like == liked.title
    assert hit.terms  # never "like T" alone
    assert hit.keyword == f"like {liked.title}: related terms {', '.join(hit.terms)}"
    own = set(words(near.title + " " + near.abstract))
    assert all(set(term.split()) <= own for term in hit.terms)  # its own words, not invented ones
