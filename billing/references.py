"""Transfer references and bank account numbers: make, check, find in text.

A new transfer reference is an ISO 11649 structured creditor reference:
``RF`` + two check digits + the body. The check digits catch a reference
mistyped by one character (and most transpositions), so a typo is never
matched to another reseller's operation. Pure functions, no database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

# The body is the operation's id, zero-padded, so every reference of this
# ledger has the same length: RF + 2 check digits + 12 digits.
BODY_DIGITS = 12
MAX_RF_LENGTH = 25
_TOKEN = re.compile(r"[A-Za-z0-9]+")
# Tokens joined to find a number a bank split ("RF18 5390 0754 7034").
MAX_JOINED_TOKENS = 8
MIN_DOCUMENT_NUMBER = 4
# The longest document number (``Document.number``): a longer run of joined
# words cannot be one.
MAX_DOCUMENT_NUMBER = 64


class IbanError(ValueError):
    """An IBAN that is not one."""


def creditor_reference(operation_id: int) -> str:
    """Return the ISO 11649 reference of an operation, compact: ``RF18…``."""
    body = f"{operation_id:0{BODY_DIGITS}d}"
    check = mod_97_10.calc_check_digits(body + "RF")
    return f"RF{check}{body}"


def format_reference(reference: str) -> str:
    """Return a reference as printed for people: ``RF18 0000 0000 0042``."""
    if is_creditor_reference(reference):
        return iso11649.format(reference)
    return reference


def is_creditor_reference(value: str) -> bool:
    """Return whether ``value`` is a valid RF reference (any spacing/case)."""
    return iso11649.is_valid(value)


def normalize(value: str) -> str:
    """Return ``value`` upper-cased with everything but letters and digits gone."""
    return "".join(_TOKEN.findall(value)).upper()


def tokens(text: str) -> list[str]:
    """Return the upper-cased alphanumeric runs of a remittance text."""
    return [token.upper() for token in _TOKEN.findall(text or "")]


def joined_runs(words: list[str], start: int) -> Iterator[str]:
    """Yield ``words[start]``, then it joined with the next ones, and so on."""
    joined = ""
    for word in words[start : start + MAX_JOINED_TOKENS]:
        joined += word
        yield joined


def creditor_reference_candidates(text: str) -> tuple[set[str], bool]:
    """Return the valid RF references in ``text`` and whether any RF was seen.

    A reference may be split by spaces or line breaks, lower-cased, or run
    into the next word; every prefix of the joined tokens after ``RF`` is
    tried and only those whose check digits hold are returned.
    """
    words = tokens(text)
    found: set[str] = set()
    seen = False
    for index, word in enumerate(words):
        if not (word.startswith("RF") and len(word) >= 3 and word[2].isdigit()):
            continue
        seen = True
        joined = "".join(words[index : index + MAX_JOINED_TOKENS])[:MAX_RF_LENGTH]
        for end in range(5, len(joined) + 1):
            candidate = joined[:end]
            if candidate[2:4].isdigit() and iso11649.is_valid(candidate):
                found.add(candidate)
    return found, seen


def legacy_reference_candidates(text: str, known: Iterable[str]) -> set[str]:
    """Return the old ``TR-…`` references (normalized) quoted in ``text``."""
    lengths = {len(ref) for ref in known}
    if not lengths:
        return set()
    known = set(known)
    words = tokens(text)
    found = set()
    for index, word in enumerate(words):
        if not word.startswith("TR"):
            continue
        joined = "".join(words[index : index + MAX_JOINED_TOKENS])
        found.update(joined[:n] for n in lengths if joined[:n] in known)
    return found


def document_number_candidates(text: str, known: dict[str, object]) -> set[str]:
    """Return the normalized document numbers of ``known`` quoted in ``text``."""
    words = tokens(text)
    found = set()
    for index in range(len(words)):
        for run in joined_runs(words, index):
            if run in known:
                found.add(run)
    return found


def quoted_number_keys(text: str) -> set[str]:
    """Return what ``text`` could quote as a document number, normalized.

    Every run of joined words :func:`document_number_candidates` would look
    up, kept if it could be a useful number's key: what to read of the
    ledger before matching, instead of every open document.
    """
    words = tokens(text)
    return {
        run
        for index in range(len(words))
        for run in joined_runs(words, index)
        if len(run) <= MAX_DOCUMENT_NUMBER and _useful_key(run)
    }


def useful_document_number(number: str) -> bool:
    """Return whether a number is distinctive enough to be found in text."""
    return _useful_key(normalize(number))


def _useful_key(key: str) -> bool:
    return len(key) >= MIN_DOCUMENT_NUMBER and any(c.isdigit() for c in key)


def clean_iban(value: str) -> str:
    """Return the IBAN compact, or raise :class:`IbanError`."""
    try:
        return IBAN(value).compact
    except SchwiftyException as exc:
        raise IbanError(str(exc)) from exc


def format_iban(value: str) -> str:
    """Return an IBAN in groups of four, as printed for people."""
    try:
        return IBAN(value).formatted
    except SchwiftyException:
        return value


def compact_account(value: str) -> str:
    """Return an account identifier (IBAN or number) without spaces, upper."""
    return normalize(value or "")


def payer_iban(value: str) -> str:
    """Return the payer's IBAN compact when it is one, else ""."""
    if not value:
        return ""
    try:
        return clean_iban(value)
    except IbanError:
        return ""
