"""The ``biorxiv`` reader (SPEC 2.5) on abstracts as the details API writes them: the site's
HTML flattened to ASCII, entities as placeholders (``{approx}``, ``[-&gt;]``), structured
abstracts with each heading glued to its first sentence. The shapes are those of real
answers (placeholders, headings and markers as bioRxiv and medRxiv items carry them);
the papers are invented."""

from __future__ import annotations

import json
from typing import Any

from newsletter.digest import Paper, parse_digest


def item(abstract: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": "Invented lattices",
        "authors": "Nolan, A.; Quist, B. C.",
        "author_corresponding": "Ada Nolan",
        "author_corresponding_institution": "University of Examples",
        "doi": "10.64898/2026.11.15.700001",
        "date": "2026-11-17",
        "version": "1",
        "type": "new results",
        "license": "cc_by",
        "category": "bioinformatics",
        "abstract": abstract,
        "funder": "NA",
        "published": "NA",
        "server": "bioRxiv",
        **extra,
    }


def read(*items: dict[str, Any], name: str = "biorxiv-2026-11-17.json") -> tuple[Paper, ...]:
    answer = {"messages": [{"status": "ok", "count": len(items), "total": str(len(items))}], "collection": list(items)}
    return parse_digest(json.dumps(answer).encode(), source=name).papers


def test_biorxivfmt_placeholders_are_their_characters() -> None:
    """bioRxiv writes entities as words in braces or brackets; the email shows the
    characters, the title's too (as in real items: ``{approx}``, ``{middle dot}``,
    ``{propto} {micro}2``, ``Spearman{rho}``, ``[&ge;]``, ``[-&gt;]``)."""
    abstract = (
        "Cells grew {approx}3 {micro}m at 37{degrees}C ({+/-}0.2) with bias{approx} w {middle dot} offset; "
        "variance (Var {propto} {micro}2) departs from (1 +{kappa} ){micro}. Spearman{rho} > 0.96 at L [&ge;] 4, "
        "p [&le;] 0.05, growth 0.2 [-&gt;] 0.9, a {Delta}{beta} shift, TGF[beta] signalling and "
        "12 t ha{square}{superscript 1}."
    )
    (paper,) = read(item(abstract, title="{beta}-cells grow on {alpha}-lattices"))
    assert paper.title == "β-cells grow on α-lattices"
    assert paper.abstract == (
        "Cells grew ≈3 µm at 37°C (±0.2) with bias≈ w · offset; variance (Var ∝ µ2) departs from (1 +κ )µ. "
        "Spearmanρ > 0.96 at L ≥ 4, p ≤ 0.05, growth 0.2 → 0.9, a Δβ shift, TGFβ signalling and 12 t ha□¹."
    )


def test_biorxivfmt_unknown_placeholders_latex_and_sets_stay_as_written() -> None:
    """Only known placeholders are replaced: an unknown word in braces, LaTeX's braces, a
    set and a bracketed label are text of the paper."""
    abstract = (
        "A {frobnicate} term, forces F_{e} and \\mathrm{beta}, {{beta}}, x in {0, 1}, [A] and [Ca2+] at 2.35 [A]."
    )
    (paper,) = read(item(abstract))
    assert paper.abstract == abstract


# medRxiv's structured abstracts: each heading glued to its first sentence, a paragraph per
# section (real shapes: "BackgroundThe ...", "ResultsWe ...", "ConclusionsScriptManager ...").
STRUCTURED = (
    "BackgroundThe growing diversity of lattice assays has driven many formats.\n\n"
    "MethodsWe built a framework. Backgrounds and Methodsology are words here.\n\n"
    "ResultsOur framework scales to 10,305 jobs.\n\n"
    "ConclusionsLatticeManager v1.0 enhances portability."
)


def test_biorxivfmt_structured_abstract_headings_are_their_own_paragraphs() -> None:
    (paper,) = read(item(STRUCTURED, server="medRxiv"))
    assert paper.abstract == (
        "Background: The growing diversity of lattice assays has driven many formats.\n\n"
        "Methods: We built a framework. Backgrounds and Methodsology are words here.\n\n"
        "Results: Our framework scales to 10,305 jobs.\n\n"
        "Conclusions: LatticeManager v1.0 enhances portability."
    )


def test_biorxivfmt_heading_glued_to_a_number_is_a_heading() -> None:
    """medRxiv's "Results12 of 40 patients ..." is the heading ``Results`` and the number
    (it stayed "Results12 of 40" inside the paragraph); in capitals too."""
    abstract = "BackgroundLattices grow.\n\nResults12 of 40 lattices grew.\n\nCONCLUSIONS3 kinds suffice."
    (paper,) = read(item(abstract, server="medRxiv"))
    assert paper.abstract == (
        "Background: Lattices grow.\n\nResults: 12 of 40 lattices grew.\n\nCONCLUSIONS: 3 kinds suffice."
    )


def test_biorxivfmt_heading_words_in_a_plain_abstract_are_words() -> None:
    """A plain abstract keeps its words: a paragraph that opens with a name that starts
    like a heading (``DesignMaster``), ``Results were``, ``Backgrounds``, ``Methodsology``."""
    abstract = "DesignMaster generates lattices.\n\nResults were robust.\n\nBackgrounds vary.\n\nMethodsology matters."
    (paper,) = read(item(abstract))
    assert paper.abstract == abstract


def test_biorxivfmt_conclusion_before_an_acronym_keeps_its_capital() -> None:
    """``ConclusionSARS-CoV-2 ...`` is the heading ``Conclusion`` and ``SARS-CoV-2``, not
    ``Conclusions`` and ``ARS-CoV-2``; ``AimsSCORE2`` is ``Aims`` and ``SCORE2``."""
    abstract = "AimsSCORE2 tables apply to lattices.\n\nConclusionSARS-CoV-2 spread on lattices."
    (paper,) = read(item(abstract))
    assert paper.abstract == "Aims: SCORE2 tables apply to lattices.\n\nConclusion: SARS-CoV-2 spread on lattices."


def test_biorxivfmt_marked_headings_and_the_abstract_heading() -> None:
    """medRxiv's ``O_ST_ABS...C_ST_ABS`` headings become paragraphs; the heading
    ``Abstract`` before them (and bioRxiv's small-capital ``ABSTRACT`` glued to the first
    word) is no text of the paper."""
    marked = "AbstractO_ST_ABSAim:C_ST_ABSAvian malaria spreads.\nO_ST_ABSMethodsC_ST_ABSWe sampled 40 birds."
    small_caps = "AO_SCPLOWBSTRACTC_SCPLOWLiving in groups offers lattices collective wisdom."
    first, second = read(item(marked), item(small_caps, doi="10.64898/2026.11.15.700002", title="Group wisdom"))
    assert first.abstract == "Aim: Avian malaria spreads.\n\nMethods: We sampled 40 birds."
    assert second.abstract == "Living in groups offers lattices collective wisdom."


def test_biorxivfmt_glued_abstract_heading_before_a_structured_abstract() -> None:
    (paper,) = read(item("Abstract" + STRUCTURED))
    assert paper.abstract.startswith("Background: The growing diversity")


def test_biorxivfmt_headings_alone_on_their_lines_and_in_capitals() -> None:
    """A heading on a line of its own, or in capitals glued to the next word, is a heading
    too; a word in capitals that merely starts like one (``DESIGNER``) is not."""
    alone, caps = read(
        item("Background\nThe lattice grows.\n\nResults\nWe see it."),
        item(
            "BACKGROUNDThe lattice grows.\nRESULTSWe see it.\nDESIGNER lattices stay.",
            doi="10.64898/2026.11.15.700003",
            title="Capital lattices",
        ),
    )
    assert alone.abstract == "Background: The lattice grows.\n\nResults: We see it."
    assert caps.abstract == "BACKGROUND: The lattice grows.\n\nRESULTS: We see it. DESIGNER lattices stay."
