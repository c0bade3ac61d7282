"""Generated text dumps of a Hugging Face papers listing, one per style the ``hf-text``
reader knows (SPEC 2.1), for the parse benchmark: ``n`` made-up papers each.

The shapes are the ones users save (written here from the SPEC, not copied from any
capture): Markdown with upvote links and a title link, a crawler's Markdown with the
abstract wrapped in a link (``\\\\`` continuations) and the avatar bullets inside the
author link, a trending list with image-placeholder thumbnails and every card twice,
a paperswithcode-style trending list without paper links, text with a URL line after
each element, a text-browser dump with reference links, a ``lynx -dump`` with numbered
links and a Markdown list of papers.
"""

from __future__ import annotations

from collections.abc import Callable

ABSTRACT = (
    "We study self-supervised representation learning for tabular data with a masked objective. "
    "Our method improves accuracy on twelve benchmarks while halving the training cost. "
    "Code: https://github.com/example/tab{i}."
)
SUMMARY = "A masked objective over table cells improves accuracy on twelve benchmarks at half the cost."


def _pid(i: int) -> str:
    return f"2611.{i:05d}"


def _wrapped(text: str, width: int = 78) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return [*lines, current] if current else lines


def markdown(n: int) -> str:
    """Markdown with an upvote link, a wrapped title link, bullets and a GitHub link."""
    cards = [
        f"[Upvote {i % 97}](https://huggingface.co/login?next=%2Fpapers%2F{_pid(i)})\n\n"
        f"### [Masked Objectives for Tables,\nPart {i}](https://huggingface.co/papers/{_pid(i)})\n\n"
        f"Submitted by someone\n\n* 5 authors\n\nPublished on Nov 1, 2026\n\n{ABSTRACT.format(i=i)}\n\n"
        f"[GitHub 1.2k](https://github.com/example/tab{i})\n"
        for i in range(n)
    ]
    return "# Daily Papers\n\n" + "\n".join(cards)


def crawler(n: int) -> str:
    """A crawler's Markdown of a search page: YAML front matter, count links, the abstract
    wrapped in the paper link with ``\\\\`` line ends, avatar bullets inside the author link,
    the comment count glued to the date."""
    cards = []
    for i in range(n):
        pid = _pid(i)
        body = "\\\\\n".join(_wrapped(ABSTRACT.format(i=i)))
        votes = str(i % 97) if i % 5 else "-"
        who = (
            f"[![lab](https://cdn.example/org{i % 7}.png)Example Lab {i % 7}](https://huggingface.co/lab{i % 7})"
            if i % 2
            else "[- ![](https://cdn.example/a.png)\\\\\n- ![](https://cdn.example/b.svg)\\\\\n- 3 authors]"
            f"(https://huggingface.co/papers/{pid})"
        )
        cards.append(
            f"[{votes}](https://huggingface.co/login?next=%2Fpapers%2F{pid})\n\n"
            f"### [Masked Objectives for Tables, Part {i}](https://huggingface.co/papers/{pid})\n\n"
            f"[{body}](https://huggingface.co/papers/{pid})\n\n{who}\n\n·\n\n"
            f"Oct {1 + i % 28}[{i % 9}](https://huggingface.co/papers/{pid}#community)\n"
        )
    head = "---\nurl: https://huggingface.co/papers?q=tables\n---\n# Daily Papers\n\nOct 30\n\n"
    return head + "\n".join(cards) + "\n[Previous](https://huggingface.co/papers/date/2026-10-29)\n"


def trending(n: int) -> str:
    """A trending list: an image placeholder thumbnail, the title link, an AI summary, the
    author link with avatars, the GitHub stars link; every card twice."""
    cards = []
    for i in range(n):
        pid = _pid(i)
        card = (
            f'<a id="card-{i}"></a>\n[[Image: no alt text]](https://huggingface.co/papers/{pid})\n\n'
            f"### [Masked Objectives for Tables, Part {i}](https://huggingface.co/papers/{pid})\n\n"
            f"{SUMMARY}\n\n[- ![](https://cdn.example/a.png)\\\\\n- 4 authors](https://huggingface.co/papers/{pid})\n\n"
            f"[LINK: GitHub 2.{i % 10}k](https://github.com/example/tab{i})\n"
        )
        cards.extend((card, card))
    return "## Trending Papers\n\n" + "\n".join(cards)


def paperswithcode(n: int) -> str:
    """A paperswithcode-style trending list: heading titles without links, every card twice."""
    cards = []
    for i in range(n):
        card = (
            f"### Masked Objectives for Tables, Part {i}\n\n{SUMMARY}\n- 6 authors\n"
            f"[LINK: GitHub 1.{i % 10}k](https://github.com/example/tab{i})\n"
        )
        cards.extend((card, card))
    head = "# Trending\n**URL:** https://paperswithcode.com\n--------------------\n\n## Trending Papers\n\n"
    return head + "\n".join(cards)


def urllines(n: int) -> str:
    """Text with a URL line after each element (a text browser's "links after" dump)."""
    cards = [
        f"Upvote\nhttps://huggingface.co/login?next=%2Fpapers%2F{_pid(i)}\n{i % 97}\n"
        f"Masked Objectives for Tables, Part {i}\nhttps://huggingface.co/papers/{_pid(i)}\n"
        f"Example Lab\nhttps://huggingface.co/example-lab\n- 5 authors\nPublished on Nov 1, 2026\n"
        f"{ABSTRACT.format(i=i)}\nGitHub 1.2k\nhttps://github.com/example/tab{i}\n"
        for i in range(n)
    ]
    return "Daily Papers\nhttps://huggingface.co/papers\n\n" + "\n".join(cards)


def reflinks(n: int) -> str:
    """A text-browser dump: reference-style links and the references list at the end."""
    cards, refs = [], []
    for i in range(n):
        ref = 10 + 2 * i
        body = "\n".join("   " + line for line in _wrapped(ABSTRACT.format(i=i)))
        cards.append(
            f" [-] {i % 97}\n\n### [Masked Objectives for Tables, Part {i}][{ref}]\n\n   - 5 authors\n\n"
            f"   Published on Nov 1, 2026\n\n{body}\n"
        )
        refs.append(f"  {ref}. https://huggingface.co/papers/{_pid(i)}")
    return "Daily Papers\n\n" + "\n".join(cards) + "\nReferences\n\n" + "\n".join(refs) + "\n"


def lynx(n: int) -> str:
    """``lynx -dump``: link numbers before each link's text, the references at the end."""
    cards, refs = [], ["https://huggingface.co/", "https://huggingface.co/papers"]
    for i in range(n):
        up, title = len(refs) + 1, len(refs) + 2
        body = "\n".join("   " + line for line in _wrapped(ABSTRACT.format(i=i)))
        cards.append(
            f"   [{up}]{i % 97}\n   [{title}]Masked Objectives for Tables, Part {i}\n\n{body}\n\n     * 5 authors\n"
        )
        refs += [f"https://huggingface.co/login?next=%2Fpapers%2F{_pid(i)}", f"https://huggingface.co/papers/{_pid(i)}"]
    listing = "\n".join(f"{k:4d}. {url}" for k, url in enumerate(refs, start=1))
    return "   [1]Hugging Face [2]Papers\n\nDaily Papers\n\n" + "\n".join(cards) + f"\nReferences\n\n{listing}\n"


def mdlist(n: int) -> str:
    """A Markdown list of papers, as people and LLM tools write one."""
    items = [
        f"{i + 1}. **[Masked Objectives for Tables, Part {i}](https://huggingface.co/papers/{_pid(i)})** — "
        + ABSTRACT.format(i=i)
        for i in range(n)
    ]
    return "# Papers of the day\n\n" + "\n".join(items) + "\n"


#: (name, generator): every text dump style of the benchmark.
STYLES: tuple[tuple[str, Callable[[int], str]], ...] = (
    ("Markdown dump", markdown),
    ("crawler Markdown (search)", crawler),
    ("trending, cards twice", trending),
    ("paperswithcode trending", paperswithcode),
    ("text with URL lines", urllines),
    ("text browser, references", reflinks),
    ("lynx -dump, numbered links", lynx),
    ("Markdown list", mdlist),
)
