"""{{name}}: a Tessera token plugin. Sets the access-token claim `hello` to
the client id."""

import json

import wit_world
from componentize_py_types import Err  # noqa: F401  (raise Err("...") for err)
from wit_world.imports.types import ClaimsPatch, Decision_Allow


class WitWorld(wit_world.WitWorld):
    def on_token(self, ctx):
        return Decision_Allow(ClaimsPatch(json.dumps({"hello": ctx.client.id}), "{}", []))
        # deny: return Decision_Deny(Denial(DenialCode.ACCESS_DENIED, "..."))
