"""Wording shared by every output (emails, pages, command lines): counts with the
right singular or plural, days and months written the same way everywhere."""

from __future__ import annotations

from datetime import date

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_day(day: date) -> str:
    """``15 Sep 2025``: unambiguous in every locale (English month names, whatever the
    process's locale says)."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def format_month(month: int, year: int) -> str:
    """``Mar 2025``."""
    return f"{MONTHS[month - 1]} {year}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 paper``, ``2 papers``, ``0 papers`` (``many``: an irregular plural). Also the
    Jinja filter ``plural`` of the email, archive and web templates:
    ``{{ count | plural("paper") }}``."""
    return f"{n} {word if n == 1 else many or word + 's'}"
