"""Keep secrets and card numbers out of anything written down.

Logs and error reports are read by more people, and kept longer, than the
data they describe. Whatever leaves the process in them passes through
:func:`redact` first: card-number-like digit runs (PANs, with or without
spaces or dashes) and the values of keys that name a secret (passwords,
tokens, session ids, cookies, ``Authorization``, card numbers) are replaced.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"
REDACTED_PAN = "[REDACTED-PAN]"

# 12 to 19 digits, as the payment form accepts them, single spaces or dashes
# allowed between digits. A run glued to letters or further digits is part of
# something else (a hexadecimal key, a longer number) and is left alone. No
# Luhn check: a mistyped card number is still a card number.
PAN = re.compile(r"(?<![0-9A-Za-z])\d(?:[ -]?\d){11,18}(?![0-9A-Za-z])")

SENSITIVE_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "csrf",
    "session",
    "cookie",
    "authorization",
    "card",
    "api_key",
    "apikey",
    "dsn",
)
_WORDS = "|".join(SENSITIVE_WORDS)
# ``key=value``, ``key: value``, ``"key": "value"``, ``'key': 'value'``: the
# value is replaced, the key kept so the line still says what was there.
KEY_VALUE = re.compile(
    rf"""(?ix)
    (?P<key>["']?[\w-]*(?:{_WORDS})[\w-]*["']?)
    (?P<separator>\s*[:=]\s*)
    (?P<value>
        "[^"]*"
        | '[^']*'
        | (?:(?:Bearer|Basic|Digest|Token)\s+)?[^\s&,;)}}\]]+
    )
    """
)
SQL_STRING = re.compile(r"'(?:[^']|'')*'")


def is_sensitive_key(name: str) -> bool:
    """Return whether a field or header called ``name`` holds a secret."""
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_WORDS)


def redact(text: str) -> str:
    """Return ``text`` with card numbers and secret values replaced."""
    text = PAN.sub(REDACTED_PAN, text)
    return KEY_VALUE.sub(_redact_value, text)


def redact_sql(text: str) -> str:
    """Return an SQL statement with every string literal replaced.

    Statements carry session keys, user names and references as literals;
    the shape of a query is what a reader of the logs needs.
    """
    return redact(SQL_STRING.sub("'…'", text))


def redact_data(value: object) -> object:
    """Return a copy of nested dicts/lists/strings with secrets replaced."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(key, str) and is_sensitive_key(key) and item
            else redact_data(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact_data(item) for item in value)
    return value


def _redact_value(match: re.Match) -> str:
    return f"{match['key']}{match['separator']}{REDACTED}"
