"""Loading and compiling the email templates, once per run.

Two templates make an email: ``digest.mjml.j2`` (MJML with Jinja2 markup, for
the HTML part) and ``digest.txt.j2`` (Jinja2, the plain-text part). They come
from the shipped package ``newsletter.templates`` (read through :mod:`importlib.resources`,
so every install mode finds them: :mod:`newsletter.base.resources`);
a configured ``templates:`` directory overrides them file by file (a Jinja
``ChoiceLoader``: the override first, the default second).

Compile once, render many
-------------------------
Compiling MJML costs about as much as everything else in an email together,
and the MJML *structure* is the same for every subscriber: only the content in
it differs. So the MJML template is compiled by ``mjml-python`` exactly once per
run, with its Jinja markup still in it, and the resulting HTML is itself the
Jinja template rendered per subscriber. There is one render path (every email,
preview, send and daemon alike, is ``compiled_html.render(context)``), and
it gives the same HTML as rendering the Jinja first and compiling the MJML after,
provided the Jinja markup sits where MJML copies text verbatim:

* control tags (``{% for %}``, ``{% if %}``, ...) between MJML elements go inside
  ``<mj-raw>`` (``<mj-raw>{% for paper in papers %}</mj-raw>``; mjml-python also
  keeps bare text between body elements, the reference MJML compiler does not);
* values (``{{ paper.title }}``) go in the content of ``mj-text``/``mj-button``/
  ``mj-raw``/``mj-title`` or in attribute values that MJML copies (``href``,
  ``src``, colours, padding), not in ones it computes with (an ``mj-image``
  ``width``);
* no ``<`` or ``>`` inside Jinja markup (MJML parses it as a tag), no
  ``{% include %}``/``{% extends %}`` (the included text would skip MJML).

:func:`load_templates` checks the first rule mechanically: every Jinja tag of the
source must come out of the MJML compiler unchanged, otherwise a
:class:`~newsletter.base.errors.RenderError` names the template and the line.

Errors
------
Autoescape is forced on for everything but ``*.txt*`` templates (Jinja's
``select_autoescape`` would leave ``.mjml.j2`` unescaped), undefined names are
errors (``StrictUndefined``). Syntax errors are found on the source at load time.
An error while rendering the compiled HTML is diagnosed by rendering the *source*
template with the same context, which fails the same way but knows the source
line; either way the :class:`RenderError` names the template file and line.
"""

from __future__ import annotations

import re
import types
import xml.parsers.expat
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import mjml

from newsletter.base.errors import RenderError
from newsletter.base.resources import TEMPLATE_PACKAGE
from newsletter.base.wording import plural
from newsletter.config import Config
from newsletter.render.memo import MemoTemplate, memo_filter

HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"

_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_UNKNOWN_MJ = re.compile(r"<(mj-[a-z-]+)")


def strip_comments(source: str) -> str:
    """Jinja comments removed (they may hold markup MJML would parse); line breaks kept."""
    return _JINJA_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), source)


def autoescape_for(name: str | None) -> bool:
    """Forced on for every template except plain-text ones (``*.txt``, ``*.txt.j2``)."""
    return not (name or "").endswith((".txt", ".txt.j2"))


def _wrap(*args: Any, **kwargs: Any) -> str:
    """:func:`newsletter.render.content.wrap`, imported on first use: compiling the
    templates (``check``) needs the filters' names, not the view model behind them."""
    from newsletter.render.content import wrap

    return wrap(*args, **kwargs)


def _highlight(*args: Any, **kwargs: Any) -> Any:
    """:func:`newsletter.render.content.highlight`, imported on first use (as :func:`_wrap`)."""
    from newsletter.render.content import highlight

    return highlight(*args, **kwargs)


def make_environment(override: Path | None = None, *, memo: bool = False) -> jinja2.Environment:
    """The Jinja environment: override directory first, then the shipped templates.

    ``memo``: the macros of imported templates and the ``wrap`` filter keep their
    answers for the environment's life (:mod:`newsletter.render.memo`): for a run's
    emails, not for pages whose templates change under a preview."""
    loaders: list[jinja2.BaseLoader] = []
    if override is not None:
        loaders.append(jinja2.FileSystemLoader(str(override)))
    loaders.append(jinja2.PackageLoader(TEMPLATE_PACKAGE, "."))  # the shipped ones, in every install mode
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=autoescape_for,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    if memo:
        env.template_class = MemoTemplate
    env.filters["wrap"] = memo_filter(_wrap) if memo else _wrap
    env.filters["highlight"] = _highlight
    env.filters["plural"] = plural
    return env


def template_line(exc: BaseException, filename: str | None) -> int | None:
    """The line of ``filename`` where ``exc`` was raised (Jinja maps frames to template lines)."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.lineno
    line = None
    tb: types.TracebackType | None = exc.__traceback__
    while tb is not None:
        if filename is not None and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def describe(exc: BaseException) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined: {exc.message}"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"template syntax error: {exc.message}"
    if isinstance(exc, jinja2.TemplateNotFound):
        return f"template not found: {exc.name}"
    return f"{type(exc).__name__}: {exc}"


@lru_cache(maxsize=32)
def compile_mjml(source: str) -> str:
    """MJML to HTML (cached by source: the preview server reloads per page view)."""
    return mjml.mjml2html(source, disable_comments=True)


@dataclass(frozen=True, slots=True)
class Templates:
    """The compiled templates of one run."""

    html: jinja2.Template  # the MJML compiler's output, as a Jinja template
    html_source: jinja2.Template  # the MJML source as a Jinja template (for diagnosis)
    html_file: str
    text: jinja2.Template
    text_file: str

    def render_html(self, context: Mapping[str, Any]) -> str:
        try:
            return self.html.render(context)
        except Exception as exc:  # every template failure becomes one RenderError
            raise self._diagnose(context, exc) from None

    def render_text(self, context: Mapping[str, Any]) -> str:
        try:
            return self.text.render(context)
        except Exception as exc:
            raise RenderError(describe(exc), path=self.text_file, line=template_line(exc, self.text.filename)) from None

    def _diagnose(self, context: Mapping[str, Any], exc: Exception) -> RenderError:
        try:
            self.html_source.render(context)
        except Exception as source_exc:
            return RenderError(
                describe(source_exc), path=self.html_file, line=template_line(source_exc, self.html_source.filename)
            )
        return RenderError(describe(exc), path=self.html_file)


def _get(env: jinja2.Environment, name: str) -> tuple[jinja2.Template, str]:
    try:
        template = env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(describe(exc), path=exc.filename or name, line=exc.lineno) from None
    except jinja2.TemplateNotFound:
        raise RenderError(f"template {name} not found", path=name) from None
    except UnicodeDecodeError as exc:  # an override saved in another encoding
        bad = f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
        raise RenderError(f"cannot read the template: not UTF-8 ({bad})", path=_source_of(env, name)) from None
    except OSError as exc:
        raise RenderError(f"cannot read the template: {exc.strerror or exc}", path=_source_of(env, name)) from None
    return template, template.filename or name


def _source_of(env: jinja2.Environment, name: str) -> str:
    """The file of template ``name`` in the override directory (else the name)."""
    for loader in getattr(env.loader, "loaders", [env.loader]):
        for base in getattr(loader, "searchpath", ()):
            if (Path(base) / name).is_file():
                return str(Path(base) / name)
    return name


def _line_of(source: str, offset: int) -> int:
    return source.count("\n", 0, offset) + 1


_POSITION = re.compile(r"at position (\d+)(?::(\d+))?")


def _mjml_error_line(source: str, message: str) -> int | None:
    """The line of an mjml-python error: from its character position when it gives
    one, else from an XML parse of the source."""
    m = _POSITION.search(message)
    if m:
        start = int(m.group(1))
        end = int(m.group(2) or start)
        while start < end and source[start : start + 1].isspace():  # the token, not the blank before it
            start += 1
        return _line_of(source, start)
    return _locate_xml_error(source)


def _locate_xml_error(source: str) -> int | None:
    """Best guess at the line of a markup error mjml-python does not locate.

    Jinja markup is blanked (keeping line breaks), HTML void elements closed and
    named entities neutralised; then expat, which reports lines, parses the rest.
    """
    text = _JINJA_TAG.sub(lambda m: re.sub(r"[^\n]", "x", m.group(0)), source)
    text = re.sub(r"<(br|hr|img|meta|link|input|wbr|col|source)\b([^>]*?)/?>", r"<\1\2/>", text, flags=re.I)
    text = re.sub(r"&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)", "&amp;", text)
    text = re.sub(r"&(?!amp;|lt;|gt;|quot;|apos;|#)\w+;", "&amp;", text)
    parser = xml.parsers.expat.ParserCreate()
    try:
        parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as exc:
        return int(exc.lineno)
    return None


def load_templates(override: Path | None = None, *, memo: bool = True) -> Templates:
    """Load, check and compile both templates; RenderError names the template and line.
    ``memo`` off: every email rendered from scratch (the reference of the memos)."""
    env = make_environment(override, memo=memo)
    html_source, html_file = _get(env, HTML_TEMPLATE)
    text, text_file = _get(env, TEXT_TEMPLATE)
    assert env.loader is not None
    source = strip_comments(env.loader.get_source(env, HTML_TEMPLATE)[0])
    try:
        compiled = compile_mjml(source)
    except ValueError as exc:
        raise RenderError(f"MJML: {exc}", path=html_file, line=_mjml_error_line(source, str(exc))) from None
    unknown = _UNKNOWN_MJ.search(_JINJA_TAG.sub("", compiled))
    if unknown:
        found = source.find(f"<{unknown.group(1)}")
        raise RenderError(
            f"MJML: unknown element <{unknown.group(1)}>",
            path=html_file,
            line=_line_of(source, found) if found >= 0 else None,
        )
    _check_markup_kept(source, compiled, html_file)
    try:
        html = env.from_string(compiled)
    except jinja2.TemplateSyntaxError as exc:  # not reachable when the tags survived
        raise RenderError(describe(exc), path=html_file) from None
    return Templates(html=html, html_source=html_source, html_file=html_file, text=text, text_file=text_file)


def compile_setting(env: jinja2.Environment, source: str, key: str, path: Path) -> jinja2.Template:
    """A Jinja template of the configuration (``sender.subject``, ``links.paper``,
    ``sender.unsubscribe.url``) compiled; a syntax error is a RenderError naming the key."""
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"{key}: {describe(exc)}", path=str(path)) from None


def setting_templates(config: Config) -> dict[str, jinja2.Template]:
    """The configuration's own Jinja templates (plain text, undefined names are errors),
    by key; a RenderError names the first that does not compile."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    sources = {
        "sender.subject": config.sender.subject,
        "links.paper": config.links.paper,
        "sender.unsubscribe.url": config.sender.unsubscribe.url,
    }
    return {
        key: compile_setting(env, source or "", key, config.path)
        for key, source in sources.items()
        if source or key == "sender.subject"  # an empty link or URL is none; a subject always is one
    }


def check_templates(config: Config) -> None:
    """What building a :class:`~newsletter.render.Renderer` checks of the templates, in
    the same order and with the same errors, without the renderer (``check``): the
    email templates (Jinja syntax, MJML, the markup kept) and the configuration's."""
    load_templates(config.templates, memo=False)
    setting_templates(config)


def _check_markup_kept(source: str, compiled: str, filename: str) -> None:
    """Every Jinja tag of the MJML source must survive the MJML compiler verbatim."""
    kept = Counter(m.group(0) for m in _JINJA_TAG.finditer(compiled))
    for m in _JINJA_TAG.finditer(source):
        tag = m.group(0)
        if kept[tag] > 0:
            kept[tag] -= 1
            continue
        raise RenderError(
            f"MJML dropped or changed the Jinja markup {tag!r}: put control tags inside "
            "<mj-raw> and values inside mj-text content or attribute values",
            path=filename,
            line=_line_of(source, m.start()),
        )
