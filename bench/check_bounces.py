"""The bounce reader against real bounces: sisimai's set-of-emails, sisimai as the reference.

Reads every ``*.eml`` of DIR (``maildir/bsd`` of https://github.com/sisimai/set-of-emails,
BSD 2-Clause; kept outside the repository) with :func:`newsletter.bounces.parse_report`
and compares it with REF, sisimai's own reading of the same files as JSON
(``{file: [{"recipient", "reason", "hardbounce", "status", "messageid"}, ...]}``), made
with p5-sisimai (v5.1.0) and this Perl (``Class::Accessor::Lite`` and ``JSON`` from CPAN
or the distribution)::

    use lib 'p5-sisimai/lib'; use Sisimai; use JSON;
    my %out; opendir(my $dh, $ARGV[0]);
    for my $f (sort grep { /\\.eml$/ } readdir $dh) {
        my $r = eval { Sisimai->rise("$ARGV[0]/$f", delivered => 1, vacation => 1) } || [];
        $out{$f} = [map { {recipient => $_->recipient->address, reason => $_->reason,
            hardbounce => $_->hardbounce ? 1 : 0, status => $_->deliverystatus,
            messageid => $_->messageid} } @$r];
    }
    print JSON->new->canonical->encode(\\%out);

A real bounce is a file sisimai reads with a reason that is not ``feedback``,
``delivered`` or ``vacation`` (and not an ``arf-`` complaint). For each: recognised (a
report with a bounce), right recipient (ours names sisimai's), tied to Message-ID (the
returned Message-ID is sisimai's), same hard/soft (for that recipient), quarantined,
exceptions. ARF complaints, auto-replies (``rfc3834-``) and what sisimai calls no bounce
must never be read as one: listed when they are. Prints the totals and a table by family.

    python -m bench.check_bounces DIR REF
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from newsletter.bounces import parse_report
from newsletter.bounces.dsn import Report, Unreadable

COLUMNS = (
    "total",
    "recognised",
    "right recipient",
    "tied to Message-ID",
    "same hard/soft",
    "quarantined",
    "exceptions",
)
NOT_BOUNCES = ("feedback", "delivered", "vacation")


def judge(data: bytes, reference: list[dict[str, Any]]) -> Counter[str]:
    """The columns one real bounce scores."""
    scored: Counter[str] = Counter(total=1)
    try:
        found = parse_report(data)
    except Exception:  # counted: the reader must never raise
        scored["exceptions"] = 1
        return scored
    if isinstance(found, Unreadable):
        scored["quarantined"] = 1
    if not isinstance(found, Report) or not found.bounces:
        return scored
    scored["recognised"] = 1
    ours = {b.recipient: b for b in found.bounces}
    theirs = next((r for r in reference if r["recipient"].lower() in ours), None)
    if theirs is not None:
        scored["right recipient"] = 1
        scored["same hard/soft"] = int((ours[theirs["recipient"].lower()].kind == "hard") == bool(theirs["hardbounce"]))
    ids = {r["messageid"].strip("<>") for r in reference if r["messageid"]}
    scored["tied to Message-ID"] = int(bool(found.message_id) and found.message_id.strip("<>") in ids)
    return scored


def main(argv: list[str]) -> int:
    folder, reference = Path(argv[0]), json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    totals: Counter[str] = Counter()
    families: defaultdict[str, Counter[str]] = defaultdict(Counter)
    wrong: list[str] = []
    for path in sorted(folder.glob("*.eml")):
        ref = reference.get(path.name) or []
        real = bool(ref) and not path.name.startswith("arf-") and ref[0]["reason"] not in NOT_BOUNCES
        if not real:
            found = parse_report(path.read_bytes())
            named = path.name.startswith(("arf-", "rfc3834-")) or bool(ref)
            if named and isinstance(found, Report) and found.bounces:
                wrong.append(path.name)
            continue
        scored = judge(path.read_bytes(), ref)
        totals.update(scored)
        families[re.sub(r"-\d+\.eml$", "", path.name)].update(scored)
    print(" | ".join(f"{c} {totals[c]}" for c in COLUMNS))
    print("no bounce read as one:", ", ".join(wrong) or "none")
    print("| family | " + " | ".join(COLUMNS) + " |")
    for family, scored in sorted(families.items()):
        print(f"| {family} | " + " | ".join(str(scored[c]) for c in COLUMNS) + " |")
    return 1 if wrong or totals["exceptions"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
