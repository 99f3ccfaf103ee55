"""Per-key moderation (SPEC §2): a key's ``policy.moderation`` over the gateway's settings.

A key may change its input and output modes (block, flag, off), ``on_error``, thresholds and
categories (``settings.KeyModeration``); what it does not name is the gateway's. The effective
settings are resolved once per key and kept (bounded), so a request pays one dict lookup; a
key whose policy names no moderation gets the gateway's own ``Moderated`` object at once.

A key cannot turn on a direction the gateway does not moderate (``moderation.input: off``
builds no input check, so it costs nothing per request): ``unapplied`` names that mistake when
the override is set (``keys policy``, the admin API), and at run time the direction stays off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from goodstanding.moderation.policy import Policy
from goodstanding.settings import KEY_MODERATION, KeyModeration, ModerationSettings

if TYPE_CHECKING:
    from goodstanding.call import VirtualKey
    from goodstanding.moderation.judge import Judge

log = logging.getLogger("goodstanding.moderation")

CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Moderated:
    """How one key's calls are moderated."""

    input: str  # block | flag | off
    output: str
    fail_open: bool
    judge: Judge  # on_error: local has its own (the detectors stand in for the endpoint)
    policy: Policy


def _moderated(settings: ModerationSettings, judges: dict[bool, Judge]) -> Moderated:
    off = tuple(c for c, mode in settings.categories.items() if mode == "off")
    return Moderated(settings.input, settings.output, settings.on_error == "fail_open",
                     judges[settings.on_error == "local"],
                     Policy(settings.thresholds, settings.zero_tolerance, off))


def effective(settings: ModerationSettings, override: dict[str, Any]) -> ModerationSettings:
    """The gateway's moderation settings with one key's override over them.

    Raises ValueError (a stored override no longer valid, e.g. switching off a category the
    gateway has since made zero-tolerance)."""
    named = KeyModeration.model_validate(override).model_dump(exclude_unset=True)
    merged = {name: value for name, value in named.items() if value is not None}
    for name in ("thresholds", "categories"):  # a key's entries over the gateway's
        if name in merged:
            merged[name] = {**getattr(settings, name), **merged[name]}
    return ModerationSettings.model_validate({**settings.model_dump(), **merged})


def unapplied(settings: ModerationSettings, override: dict[str, Any] | None) -> str | None:
    """Why a key's override would not take effect on this gateway, or None."""
    for direction in ("input", "output"):
        mode = (override or {}).get(direction)
        if mode in ("block", "flag") and getattr(settings, direction) == "off":
            return (f"moderation.{direction}: this gateway does not moderate {direction} "
                    f"(moderation.{direction}: off), so a key cannot turn it on")
    return None


class PerKey:
    """Key -> its ``Moderated``, resolved on first use and kept until the key's policy changes."""

    __slots__ = ("_keys", "default", "judges", "settings", "size")

    def __init__(self, settings: ModerationSettings | None, judges: dict[bool, Judge],
                 default: Moderated | None = None, size: int = CACHE_SIZE) -> None:
        self.settings, self.judges, self.size = settings, judges, size
        self.default = default or _moderated(settings or ModerationSettings(), judges)
        self._keys: dict[str, tuple[dict[str, Any], Moderated]] = {}

    @classmethod
    def fixed(cls, moderated: Moderated) -> PerKey:
        """Every key moderated alike (no overrides applied): checks built by hand."""
        return cls(None, {False: moderated.judge, True: moderated.judge}, moderated)

    def of(self, key: VirtualKey | None) -> Moderated:
        override = key.policy.get("moderation") if key is not None and key.policy else None
        if not override or self.settings is None:
            return self.default
        entry = self._keys.get(key.id)  # type: ignore[union-attr]  # key is set: override is
        if entry is not None and (entry[0] is override or entry[0] == override):
            return entry[1]
        return self._resolve(key, override)  # type: ignore[arg-type]

    def _resolve(self, key: VirtualKey, override: dict[str, Any]) -> Moderated:
        assert self.settings is not None
        try:
            moderated = _moderated(effective(self.settings, _known(override)), self.judges)
        except (ValidationError, ValueError):
            # fail closed: the gateway's own settings, not a half-applied override
            log.warning("key %s: its moderation override is not valid here; the gateway's "
                        "moderation settings apply", key.id)
            moderated = self.default
        if len(self._keys) >= self.size:
            self._keys.clear()
        self._keys[key.id] = (override, moderated)
        return moderated


def _known(override: dict[str, Any]) -> dict[str, Any]:
    # a key stored before overrides were applied may name other moderation fields: ignored
    return {name: value for name, value in override.items() if name in KEY_MODERATION}
