"""Offline, CPU-only detectors (SPEC §5): canonicaliser, lexicons, content and jailbreak heads.

    from goodstanding.detect import canonicalize, load_detectors, CATEGORIES
    det = load_detectors()          # cached; loads the shipped weights once
    det.screen(text)                # the always-on layer -> Screen
    det.moderation_result(text)     # an OpenAI /v1/moderations result
"""

from goodstanding.detect.canonical import Canonical, canonicalize
from goodstanding.detect.categories import CATEGORIES
from goodstanding.detect.detectors import Detectors, Screen, compiled, load_detectors

__all__ = ["CATEGORIES", "Canonical", "Detectors", "Screen", "canonicalize", "compiled",
           "load_detectors"]
