"""``newsletter preview``: every subscriber's email as files or on a local web page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter.app.checks import clip_lines
from newsletter.base.errors import ConfigError, NewsletterError
from newsletter.base.wording import plural
from newsletter.cli.options import config_option, load_config_leaving_out

if TYPE_CHECKING:  # the renderer is loaded when the command runs
    from newsletter.app.preview import Preview

PREVIEW_PORT = 8025


@click.command("preview")
@config_option
@click.option("--subscriber", "emails", multiple=True, metavar="EMAIL", help="Only this subscriber (repeatable).")
@click.option(
    "--digest",
    "digests",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Digest file(s) to use: --digest a.txt b.txt; default: every digest in the digests directory.",
)
@click.argument("more_digests", nargs=-1, type=click.Path(dir_okay=False, exists=True))
@click.option("--out", "out", type=click.Path(file_okay=False), help="Directory to write the previews to.")
@click.option("--serve", is_flag=True, help="Serve the previews on http://127.0.0.1:PORT/ instead.")
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help=f"Port for --serve (0: any free port).  [default: {PREVIEW_PORT}]",
)
def preview_command(
    config_path: str,
    emails: tuple[str, ...],
    digests: tuple[str, ...],
    more_digests: tuple[str, ...],
    out: str | None,
    serve: bool,
    port: int | None,
) -> None:
    """Render what each subscriber would get, without sending anything.

    With --out, writes <email>.html, <email>.txt and <email>.eml per subscriber
    and an index.html. With --serve, a local web page lists the subscribers
    (paged, searchable by address or name); each email is shown as HTML, text,
    headers and why each paper matched, and whatever changed in the
    configuration, templates or digests is re-read on the next page load. The ledger
    is never changed; its suppression list is read, so an unsubscribed address
    gets no email here either.

    \b
    Example:
      newsletter preview -c config.yaml --out previews/
      newsletter preview -c config.yaml --digest digests/*.txt --out previews/
      newsletter preview -c config.yaml --digest digests/002_cde32cb1abaeaae0.txt --serve --port 8025
    """
    from newsletter.app.preview import build_previews, write_previews

    # ``--digest a b c``: click takes ``a`` for the option and ``b c`` as arguments
    files = [*digests, *more_digests] or None
    port = _port(serve=serve, out=out, port=port)
    if serve:
        from newsletter.web.preview import serve_preview

        try:  # reads the configuration, templates and digests first: fails early on errors
            serve_preview(config_path, port=port, emails=emails, digests=files, announce=lambda line: click.echo(line))
        except OSError as exc:
            raise NewsletterError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}") from None
        return
    config = load_config_leaving_out(config_path)
    run = build_previews(config, emails=emails, digests=files)
    for err in run.errors:
        click.echo(f"error: {err}", err=True)
    for level, line in clip_lines((p.subscriber.email, p.email.html, p.email.fit) for p in run.previews if p.email):
        click.echo(f"{level}: {line}", err=True)  # once per subscriber: abstracts shortened, or clipped
    assert out is not None
    directory = Path(out)
    write_previews(run, directory)
    for p in run.previews:
        click.echo(f"{p.subscriber.email}: {_what(p)}")
    click.echo(f"Open {(directory / 'index.html').resolve()}")
    if run.errors:
        raise SystemExit(1)


def _port(*, serve: bool, out: str | None, port: int | None) -> int:
    """The port to serve on; options that do not go together are one line, exit 2."""
    if serve == (out is not None):
        raise ConfigError("give exactly one of --out DIR and --serve")
    if port is not None and not serve:
        raise ConfigError("--port goes with --serve (--out writes files, it listens on no port)")
    return PREVIEW_PORT if port is None else port


def _what(p: Preview) -> str:
    """One subscriber's preview in words: its papers and subject, or why no email."""
    if p.email:
        return f"{plural(len(p.matches), 'paper')}, {p.email.subject!r}"
    return "no email (unsubscribed)" if p.suppressed else "no email (nothing matched)"
