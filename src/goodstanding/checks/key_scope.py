"""A key limited to browser origins and models (`keys create --origin … --model …`).

A publishable key lives in a browser page, where anyone can read it: limited to its origins
(the browser's `Origin` header, which page scripts cannot forge) and models, it is useless to
other sites and cannot run up the bill on expensive models. Other origins, or no `Origin` at
all, get 403 `origin_not_allowed`; other models (in the body, or `GET /v1/models/{id}`) get 403
`model_not_allowed`. Keys without limits pass at the cost of two attribute reads.
"""

from __future__ import annotations

from goodstanding.call import Call, Verdict
from goodstanding.errors import ModelNotAllowed, OriginNotAllowed

_PASS = Verdict("key_scope")
_MODEL_PATH = "/v1/models/"


class KeyScopeCheck:
    name = "key_scope"

    async def check(self, call: Call) -> Verdict:
        key = call.key
        if key is None:
            return _PASS
        if key.origins:
            origin = call.headers.get("origin", "").lower().rstrip("/")
            if origin not in key.origins:
                error = OriginNotAllowed("This key may not be used from this origin.")
                return Verdict(self.name, "refuse", (error.code,), error)
        if key.models:
            model = call.model or _path_model(call.path)
            if model is not None and model not in key.models:
                error = ModelNotAllowed(f"This key may not use the model '{model[:100]}'.",
                                        param="model")  # fmt: skip
                return Verdict(self.name, "refuse", (error.code,), error)
        return _PASS


def _path_model(path: str) -> str | None:
    path = path.partition("?")[0]
    if not path.startswith(_MODEL_PATH):
        return None
    return path[len(_MODEL_PATH) :] or None
