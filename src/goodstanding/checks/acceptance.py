"""End users who have not accepted the current content policy stop here (when required).

Only in the pipeline with ``policy.require_acceptance: true``. On generation calls with an end
user, after standing: ``X-End-User-Policy-Version: N`` from a key allowed to set it records
that the end user accepted version N; then an end user whose accepted version is below
``policy.version`` → 403 ``policy_not_accepted`` with the policy's address — except during
``policy.grace`` after ``policy.effective_at``, when one who accepted an earlier version is
still served (reason ``policy_acceptance_pending``). Calls without an end user are not
checked here (``identity.require_end_user`` decides about those).
"""

from __future__ import annotations

from goodstanding.call import Call, Verdict
from goodstanding.errors import InvalidRequest, PolicyNotAccepted
from goodstanding.policy.acceptance import AcceptanceGate

NAME = "acceptance"
HEADER = "x-end-user-policy-version"
_PASS = Verdict(NAME)


def may_record_acceptance(call: Call) -> bool:
    """Whether the key holder may say the end user accepted (``policy.policy_acceptance``)."""
    return call.key is not None and call.key.policy.get("policy_acceptance", True) is not False


class AcceptanceCheck:
    name = NAME

    def __init__(self, gate: AcceptanceGate, url: str) -> None:
        self.gate = gate
        self.url = url

    async def check(self, call: Call) -> Verdict:
        key = call.key
        if key is None or call.end_user is None or not call.generation:
            return _PASS
        gate = self.gate
        header = call.headers.get(HEADER)
        notes: tuple[str, ...] = ()  # reasons for the record that do not refuse
        if header is not None:
            refused = await self._from_header(call, header)
            if isinstance(refused, Verdict):
                return refused
            notes = refused
        accepted = await gate.accepted(key.tenant, call.end_user)
        if accepted >= gate.version:
            return Verdict(NAME, reasons=notes) if notes else _PASS
        if accepted and gate.in_grace(gate.clock()):
            return Verdict(NAME, reasons=(*notes, "policy_acceptance_pending"))
        error = PolicyNotAccepted(
            f"This end user has not accepted version {gate.version} of the content policy: "
            f"{self.url}", reasons=("policy_not_accepted",))
        return Verdict(NAME, "refuse", (*notes, *error.reasons), error)

    async def _from_header(self, call: Call, value: str) -> Verdict | tuple[str, ...]:
        """Record the acceptance the key holder reports: a refusal, or the reasons to note."""
        assert call.key is not None and call.end_user is not None
        if not may_record_acceptance(call):
            return ("policy_acceptance_ignored",)
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) < 10) or \
                not 1 <= int(text) <= self.gate.version:
            error = InvalidRequest(
                f"Invalid X-End-User-Policy-Version: expected a policy version from 1 to "
                f"{self.gate.version}.", param="X-End-User-Policy-Version")
            return Verdict(NAME, "refuse", ("invalid_policy_version",), error)
        await self.gate.accept(call.key.tenant, call.end_user, int(text), f"key:{call.key.id}")
        return ()
