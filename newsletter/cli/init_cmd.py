"""``newsletter init``: a commented starter configuration to edit."""

from __future__ import annotations

import click

from newsletter.starter import init_project


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing config.yaml.")
def init_command(directory: str, force: bool) -> None:
    """Write a commented starter DIRECTORY/config.yaml (default: here) with a
    digests folder and a subscribers folder. Only what a first user needs is
    set; every other key is one comment away. An existing config.yaml is never
    replaced without --force.

    \b
    Example:
      newsletter init team-digest
      cd team-digest && newsletter check
    """
    done = init_project(directory, force=force)
    click.echo(f"{'replaced' if done.replaced else 'wrote'} {done.config}")
    for folder in done.folders:
        click.echo(f"created {folder}/")
    cfg = done.config
    click.echo("next:")
    click.echo(f'  newsletter subscribers -c {cfg} add you@example.org --keyword "diffusion"')
    click.echo(f"  newsletter preview -c {cfg} --out previews/")
    click.echo(f"  newsletter send -c {cfg} --to you@example.org")
