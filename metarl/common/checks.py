"""Validation helpers every config dataclass uses: errors that name the key, the value and what is allowed."""

from __future__ import annotations

import difflib
import typing
from typing import Any


class ConfigError(ValueError):
    """A config that cannot be run: unknown key, wrong type or impossible value."""


class FieldError(ValueError):
    """An impossible field value, raised by :func:`check` inside a dataclass's ``__post_init__``.

    The loader prefixes ``key`` with the dotted path of the dataclass in the config.
    """

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed; allowed: {allowed}")


def check(condition: bool, key: str, value: Any, allowed: str) -> None:
    """Raise :class:`FieldError` naming ``key``, ``value`` and ``allowed`` unless ``condition``.

    Meant for ``__post_init__``: ``check(self.lr > 0, "lr", self.lr, "> 0")``.
    """
    if not condition:
        raise FieldError(key, value, allowed)


def suggest(key: str, allowed: typing.Iterable[str], path: str = "") -> str:
    """' (did you mean 'path.x'?); allowed: a, b, x' for an error message."""
    allowed = sorted(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {join_key(path, close[0])!r}?)" if close else ""
    return f"{hint}; allowed: {', '.join(allowed) or '(none)'}"


def join_key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
