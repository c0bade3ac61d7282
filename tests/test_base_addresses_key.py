"""One spelling of "the same address" (base/addresses.address_key): no other way of
lowering an address is left in the code. A grep over newsletter/: ``.lower()``,
``.casefold()`` or ``.strip().lower()`` on a name that holds an address is refused,
unless the line says why it is not a comparison (``# address-key: ...``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "newsletter"
# an identifier that holds an address: email, sub.email, to_address, rcpt, sender, ... or a lone e / a
HOLDER = r"(?:\b\w*(?:email|address|addr|rcpt|recipient|sender)s?|(?<![\w.])[ea])"
SPELLING = re.compile(rf"{HOLDER}(?:\[[^\]]*\])?(?:\.strip\(\))?\.(?:lower|casefold)\(\)")


def test_base_addresses_key_is_the_one_spelling_of_an_address() -> None:
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "addresses.py":
            continue  # where address_key is defined
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SPELLING.search(line) and "address-key:" not in line:
                offenders.append(f"{path.relative_to(ROOT.parent)}:{number}: {line.strip()}")
    assert offenders == [], "use address_key():\n" + "\n".join(offenders)


def test_base_addresses_key_grep_catches_the_spellings_it_names() -> None:
    for line in ("key = email.strip().lower()", "sub.email.casefold()", "rcpt.lower()", "e.lower()", "address.lower()"):
        assert SPELLING.search(line), line
    assert not SPELLING.search("address_key(sub.email)")
