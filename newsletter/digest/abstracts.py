"""What sites leave in an abstract that is no text of the paper: the word ``Abstract`` as
its heading, bioRxiv's character placeholders, structured abstracts' glued headings.

* **The heading "Abstract".** Journal feeds, bioRxiv, OpenReview and text dumps open some
  abstracts with the heading: ``Abstract: We ...``, ``Abstract`` alone on its line or
  paragraph, ``ABSTRACT The ...``, glued (``AbstractWe ...``, bioRxiv's small capitals
  ``ABSTRACTLiving ...``). It goes. A sentence that starts with the word stays:
  ``Abstractive summarization ...``, ``Abstract reasoning ...``, ``Abstract Meaning
  Representation ...`` (after ``Abstract`` and a space the heading is taken only when a
  word that opens sentences follows: ``We``, ``The``, ``In``, ``This``, ...).
* **bioRxiv's placeholders** (its details API flattens the site's HTML to ASCII): HTML
  entities as words in braces, ``{approx}``, ``{alpha}``, ``{Delta}``, ``{micro}``,
  ``{degrees}``, ``{+/-}``, ``{middle dot}``, ``{superscript 2}``, ..., and some in
  brackets, ``[-&gt;]`` (an arrow), ``[&ge;]``, ``[~]``, ``TGF[beta]``. Each known one is
  its character (``≈ α Δ µ ° ± · ² → ≥ ∼ β``); an unknown one stays as written, and so do
  braces that are LaTeX (``F_{e}``, ``\\mathrm{F}``, ``{{beta}}``) or sets (``{0, 1}``).
* **Structured abstracts' headings.** bioRxiv and medRxiv glue each section's heading to
  its first sentence, one section a paragraph: ``BackgroundThe ...``, ``MethodsWe ...``,
  ``ConclusionsScriptManager ...``; medRxiv also marks them ``O_ST_ABSMethodsC_ST_ABS``.
  Each becomes its own paragraph ``Background: The ...``. Only known headings, only at
  the start of a line, only before a capital letter (``Backgrounds``, ``Methodsology``,
  ``Results were`` stay words), and only in a structured abstract: two sections or more
  (a tool named ``DesignMaster`` opening a plain abstract keeps its name).
"""

from __future__ import annotations

import re
import unicodedata

_GREEK = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
]


def _greek() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in _GREEK:
        spelt = "LAMDA" if name == "lambda" else name.upper()  # Unicode's spelling
        out[name] = unicodedata.lookup(f"GREEK SMALL LETTER {spelt}")
        out[name.capitalize()] = unicodedata.lookup(f"GREEK CAPITAL LETTER {spelt}")
    return out


GREEK = _greek()
# the placeholders seen in the API's abstracts, by the name the site writes in braces
PLACEHOLDERS: dict[str, str] = {
    **GREEK,
    "varepsilon": "ε",
    "varphi": "φ",
    "vartheta": "ϑ",
    "micro": "µ",
    "approx": "≈",
    "+/-": "±",
    "degrees": "°",
    "middle dot": "·",
    "times": "×",
    "propto": "∝",
    "infty": "∞",
    "square": "□",
    "superscript 1": "¹",
    "superscript 2": "²",
    "superscript 3": "³",
    "cap": "∩",
    "uparrow": "↑",
    "downarrow": "↓",
    "rightarrow": "→",
    "leftarrow": "←",
    "Rightarrow": "⇒",
    "gtrsim": "≳",
    "lesssim": "≲",
    "whitebullet": "◦",
    "paragraph": "¶",
    "pound": "£",
    "euro": "€",
    "inverted exclamation": "¡",
}
# in brackets, as they read once the entities are undone ("[-&gt;]" is "[->]")
BRACKETED: dict[str, str] = {
    "->": "→",
    "≥": "≥",
    "≤": "≤",
    "~": "∼",
    "~=": "≃",
    "isin": "∈",
    "bullet": "•",
    "tpltrtarr": "➢",
    **{name: char for name, char in GREEK.items() if name.islower()},
}
_BRACE = re.compile(r"\{(\+/-|[A-Za-z][A-Za-z ]{0,23}[A-Za-z0-9]|[A-Za-z]{2})\}")
_BRACKET = re.compile(r"\[(->|≥|≤|~=?|isin|bullet|tpltrtarr|[a-z]{2,7})\]")
_LATEX_BEFORE = re.compile(r"(?:[_^{\\]|\\[A-Za-z]+)\Z")


def _brace(m: re.Match[str]) -> str:
    char = PLACEHOLDERS.get(m.group(1))
    if char is None:
        return m.group(0)
    text, start, end = m.string, m.start(), m.end()
    if _LATEX_BEFORE.search(text, max(0, start - 24), start) or text[end : end + 1] == "}":
        return m.group(0)  # LaTeX: F_{e}, \mathrm{F}, {{beta}}
    return char


def undo_placeholders(text: str) -> str:
    """``text`` with bioRxiv's known placeholders as their characters (module doc)."""
    if "{" in text:
        text = _BRACE.sub(_brace, text)
    if "[" in text:
        text = _BRACKET.sub(lambda m: BRACKETED.get(m.group(1), m.group(0)), text)
    return text


# the headings of structured abstracts (journals' and bioRxiv/medRxiv's), longest first
_HEADING_WORDS = sorted(
    {
        *[
            "Background",
            "Introduction",
            "Context",
            "Rationale",
            "Motivation",
            "Purpose",
            "Objective",
            "Objectives",
            "Aim",
            "Aims",
        ],
        *[
            "Hypothesis",
            "Methods",
            "Method",
            "Methodology",
            "Approach",
            "Design",
            "Setting",
            "Participants",
            "Patients",
        ],
        *[
            "Interventions",
            "Measurements",
            "Results",
            "Findings",
            "Discussion",
            "Conclusion",
            "Conclusions",
            "Interpretation",
        ],
        *["Significance", "Implications", "Limitations", "Funding", "Availability", "Contact", "Summary"],
        "Aims and Objectives",
        "Materials and Methods",
        "Methods and Materials",
        "Methods and Findings",
        "Methods and Results",
        "Study Design",
        "Principal Findings",
        "Main Outcome Measures",
        "Main Outcomes and Measures",
        "Significance Statement",
        "Author Summary",
        "Availability and Implementation",
        "Supplementary Information",
        "Trial Registration",
        "Key Points",
    },
    key=len,
    reverse=True,
)
_HEADS = "|".join(re.escape(h) for h in _HEADING_WORDS)
_CAPS = "|".join(re.escape(h.upper()) for h in _HEADING_WORDS)
# "BackgroundThe ...", "Methods:We ...", "RESULTSWe ...", "Results12 of 40 ..." at a line's
# start (a heading in capitals before a capitalised word or a number: "DESIGNER" is a
# word; a digit never starts a word glued to a heading); "Results" alone on its line
_GLUED = re.compile(
    rf"^(?:(?P<h>{_HEADS})(?::[ \t]*)?(?=[A-Z0-9])|(?P<u>{_CAPS})(?::[ \t]*)?(?=[A-Z][a-z]|[0-9]))", re.MULTILINE
)
_ALONE = re.compile(rf"^(?P<h>{_HEADS}|{_CAPS})[ \t]*:?[ \t]*\n+(?=[ \t]*\S)", re.MULTILINE)
# medRxiv's marked headings: "O_ST_ABSBackgroundC_ST_ABSPro-inflammatory diets ..."
_MARKED = re.compile(r"\s*O_ST_ABS\s*(?P<h>[^\n]{0,80}?)\s*:?\s*C_ST_ABS\s*")
_BLANKS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def _as_paragraph(m: re.Match[str]) -> str:
    heading = m.group("h") or m.groupdict().get("u")
    return f"\n\n{heading}: " if heading else "\n\n"


def split_headings(text: str) -> str:
    """``text`` (lines as the source wrote them) with the headings of a structured abstract
    as ``Heading: ...`` paragraphs (module doc); any other text as it is."""
    if "O_ST_ABS" in text:
        text = _MARKED.sub(_as_paragraph, text)
    elif len(_GLUED.findall(text)) + len(_ALONE.findall(text)) < 2:
        return text
    text = _ALONE.sub(_as_paragraph, _GLUED.sub(_as_paragraph, text))
    return _BLANKS.sub("\n\n", text).strip()


# The heading "Abstract" before an abstract (module doc). After "Abstract " only a word
# that opens sentences (and no name: "Abstract Meaning Representation" is one).
_OPENERS = (
    "We|Our|This|These|That|Those|The|A|An|In|On|For|To|With|As|By|From|Here|It|Its|Although|Though|While"
    "|Whereas|Despite|Since|Because|When|Over|Across|Recent|Recently|Many|Most|Existing|Current|Currently"
    "|Given|How|What|Why|There|However|Background|Objective|Objectives|Purpose|Aims?|Motivation|Context"
    "|Introduction"
)
_ABSTRACT_WORD = re.compile(
    r"\A\s*(?:#{1,6}[ \t]+)?(?:\*\*)?(?:Abstract|ABSTRACT)(?:\*\*)?"
    r"(?:[ \t]*[:.—–][ \t]*\n*\s*"  # "Abstract:", "Abstract." or "Abstract —"
    r"|[ \t]*\n\s*"  # alone on its line or paragraph
    r"|(?=[A-Z][A-Za-z])"  # glued: "AbstractWe", "ABSTRACTLiving"
    rf"|[ \t]+(?=(?:{_OPENERS})\b)"  # "Abstract We ..."
    r"|(?<=ABSTRACT)[ \t]+(?=[A-Z]))"  # "ABSTRACT The ..."
    r"(?=\S)"
)


def without_abstract_word(text: str) -> str:
    """``text`` without the heading ``Abstract`` it opens with (module doc); the same
    object when it has none."""
    if "bstract" not in text[:16] and "BSTRACT" not in text[:16]:
        return text
    m = _ABSTRACT_WORD.match(text)
    return text[m.end() :] if m else text
