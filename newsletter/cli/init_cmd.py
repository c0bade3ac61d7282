"""``newsletter init``: a commented starter configuration to edit."""

from __future__ import annotations

import click

from newsletter.app.starter import init_project


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing config.yaml.")
@click.option(
    "--example",
    is_flag=True,
    help="Also write the sample digests, an example subscriber and config.example.yaml (every key explained).",
)
def init_command(directory: str, force: bool, example: bool) -> None:
    """Write a commented starter DIRECTORY/config.yaml (default: here) with a
    digests folder and a subscribers folder. Only what a first user needs is
    set; every other key is one comment away. An existing config.yaml is never
    replaced without --force.

    With --example, also the sample digests (four Hugging Face Daily Papers
    pages) into the digests folder, an example subscriber into the subscribers
    folder and config.example.yaml, the reference of every key, all from the
    installed package: `match`, `preview` and `send` have something to show at
    once. Files already there are kept.

    \b
    Example:
      newsletter init team-digest --example
      cd team-digest && newsletter check && newsletter match
    """
    done = init_project(directory, force=force, example=example)
    click.echo(f"{'replaced' if done.replaced else 'wrote'} {done.config}")
    for folder in done.folders:
        click.echo(f"created {folder}/")
    if done.digests:
        click.echo(f"wrote {len(done.digests)} sample digests into {done.digests[0].parent}/")
    for profile in done.profiles:
        click.echo(f"wrote the example subscriber {profile}")
    if done.reference is not None:
        click.echo(f"wrote {done.reference} (every key, explained)")
    cfg = done.config
    click.echo("next:")
    if example:
        click.echo(f"  newsletter match -c {cfg}")
        click.echo(f"  newsletter preview -c {cfg} --out previews/")
        click.echo("  newsletter sink --maildir maildir &      # a local SMTP server on 127.0.0.1:1025")
        click.echo(f"  newsletter send -c {cfg} -v")
        return
    click.echo(f'  newsletter subscribers -c {cfg} add you@example.org --keyword "diffusion"')
    click.echo(f"  newsletter preview -c {cfg} --out previews/")
    click.echo(f"  newsletter send -c {cfg} --to you@example.org")
