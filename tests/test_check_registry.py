"""The check list is a registry plus one order tuple per stage, and the docs follow it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from goodstanding import checks, pipeline
from goodstanding.audit import AuditLog
from goodstanding.checks import (
    CHECKS,
    FINISH_ORDER,
    FINISHERS,
    INPUT_ORDER,
    OUTPUT_CHECKS,
    OUTPUT_ORDER,
    build_pipeline,
)
from goodstanding.settings import Settings
from goodstanding.stores.memory import MemoryStore


@pytest.mark.parametrize(("registry", "order"), [(CHECKS, INPUT_ORDER),
                                                 (OUTPUT_CHECKS, OUTPUT_ORDER),
                                                 (FINISHERS, FINISH_ORDER)])
def test_every_registered_check_has_one_place_in_the_order(registry, order):
    assert sorted(order) == sorted(registry) and len(set(order)) == len(order)


async def _built(overrides: dict) -> pipeline.Pipeline:
    settings = Settings.model_validate(overrides)
    upstream = SimpleNamespace(base="http://127.0.0.1:9/v1")
    store = MemoryStore()
    return build_pipeline(settings, store, AuditLog(store), upstream, "s" * 32)


async def test_the_pipeline_runs_the_checks_in_the_order_tuples():
    built = await _built({"policy": {"require_acceptance": True},
                          "strikes": {"tiers": {"verified": {"ban_at": 9}}},
                          "detectors": {"output": "flag"}})
    # every check the settings switch on, named as registered, in the registry's order
    assert [c.name for c in built.checks] == [n for n in INPUT_ORDER if n != "end_user_token"]
    assert [c.name for c in built.output_checks] == list(OUTPUT_ORDER)
    assert [f.name for f in built.finishers] == list(FINISH_ORDER)


async def test_a_check_switched_off_is_left_out_and_the_rest_keep_their_order():
    built = await _built({"geo": {"mode": "off"}, "moderation": {"input": "off"},
                          "signals": {"ramp": {"enabled": False}}})
    names = [c.name for c in built.checks]
    assert "geo" not in names and "moderation" not in names and "ramp" not in names
    assert names == [n for n in INPUT_ORDER if n in names]


def test_the_pipeline_and_checks_docstrings_state_the_registered_order():
    for doc in (pipeline.__doc__, checks.__doc__):
        flat = " ".join((doc or "").split())
        assert " → ".join(INPUT_ORDER) in flat
