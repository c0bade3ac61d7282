"""`make demo`: parse the sample digests and print a summary table."""

from __future__ import annotations

import sys
from pathlib import Path

from newsletter.digest.scan import read_digest

ROOT = Path(__file__).resolve().parent.parent


def deliver_through_sink() -> int:
    """Start `newsletter sink`, deliver the seeds to the example subscribers through it
    with `newsletter send` (a fresh demo ledger each time), stop the sink."""
    import os
    import shutil
    import signal
    import socket
    import subprocess

    import yaml

    out = ROOT / "demo-out"
    out.mkdir(exist_ok=True)
    for stale in out.glob("newsletter.sqlite3*"):
        stale.unlink()
    shutil.rmtree(out / "maildir", ignore_errors=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
    config["digests"].update(directory=str(ROOT / "seeds"), settle_seconds=0)
    config["state"] = "newsletter.sqlite3"
    config["smtp"].update(host="127.0.0.1", port=port, security="none", username=None)
    cfg = out / "config.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    newsletter = [sys.executable, "-m", "newsletter"]
    sink = subprocess.Popen(
        [*newsletter, "sink", "--port", str(port), "--maildir", str(out / "maildir")],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        print(sink.stdout.readline().rstrip())  # "sink listening on ..."
        send = subprocess.run([*newsletter, "send", "-c", str(cfg), "-v"], env=env)
    finally:
        sink.send_signal(signal.SIGINT)
        rest, _ = sink.communicate(timeout=10)
        print(rest.rstrip())
    print(
        f"The delivered emails are in {out / 'maildir' / 'new'} (one file per message, e.g. "
        f"`mutt -f {out / 'maildir'}`); the ledger: newsletter status -c {cfg}"
    )
    return send.returncode


def main() -> int:
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    print(f"{'DIGEST':<28} {'DATE':<10} {'PAPERS':>6} {'WITH META':>9} {'LINKS':>5}")
    ids: set[str] = set()
    total = 0
    for path in seeds:
        digest = read_digest(path)
        with_meta = sum(1 for p in digest.papers if p.published is not None)
        links = sum(len(p.links) for p in digest.papers)
        when = digest.date.isoformat() if digest.date else "-"
        print(f"{path.name:<28} {when:<10} {len(digest.papers):>6} {with_meta:>9} {links:>5}")
        ids.update(p.id for p in digest.papers)
        total += len(digest.papers)
    print(f"{len(seeds)} digests, {total} entries, {len(ids)} distinct papers")
    print("Try: .venv/bin/newsletter parse seeds/000_02853de1cf9e25ee.txt")
    print()
    if deliver_through_sink() != 0:
        return 1
    return write_previews()


def write_previews() -> int:
    """`newsletter preview --out demo-out/preview`: each subscriber's email as files."""
    import os
    import subprocess

    out = ROOT / "demo-out" / "preview"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "newsletter", "preview", "-c", str(ROOT / "config.example.yaml"), "--out", str(out)]
    print()
    if subprocess.run(cmd, env=env).returncode != 0:
        return 1
    print(
        f"Previews: open file://{out / 'index.html'} in a browser, or live (re-rendered on every "
        "load): .venv/bin/newsletter preview -c config.example.yaml --serve"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
