"""python-tenant: stamps a `tenant` claim on tokens and, optionally, admits
only the clients on an allow-list.

Config (the binding's config JSON):
    {"tenant": "acme", "allowed_clients": ["billing-api", "web-app"]}

* `tenant` (required, a non-empty string) is set as the `tenant` claim on the
  access token, and on the ID token when one is issued.
* `allowed_clients` (optional, a list of client ids): when present, a token for
  any other client is denied with `access_denied`. When absent, every client
  the binding applies to is allowed.
* A config of the wrong shape is a broken binding: the plugin returns `err`
  and the binding's failure policy decides.

Build: componentize-py -d ../../wit -w token-plugin componentize tenant --stub-wasi -o python-tenant.wasm

`--stub-wasi` replaces every WASI import with a stub, so the component imports
only tessera:plugin (CPython's runtime would otherwise import wasi:sockets).
The price: reading a clock (`time.time()`, `datetime.now()`) or a file traps,
and `random` is seeded at build time. stdout and stderr are sent to host.log
below, so `print()` works.
"""

import io
import json
import sys

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import (
    ClaimsPatch,
    Decision,
    Decision_Allow,
    Decision_Deny,
    Denial,
    DenialCode,
    TokenContext,
)


class HostLog(io.TextIOBase):
    """A text stream that writes each line to the run record through host.log."""

    def __init__(self, level: host.Level) -> None:
        self.level = level

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text.strip():
            host.log(self.level, text.rstrip("\n"))
        return len(text)


# With --stub-wasi there is no stdout or stderr (writing to them would trap).
sys.stdout = HostLog(host.Level.INFO)
sys.stderr = HostLog(host.Level.ERROR)


def read_config(config_json: str) -> tuple[str, list[str] | None]:
    config = json.loads(config_json)
    if not isinstance(config, dict):
        raise Err("config: expected a JSON object")
    tenant = config.get("tenant")
    if not isinstance(tenant, str) or not tenant:
        raise Err("config: `tenant` must be a non-empty string")
    allowed = config.get("allowed_clients")
    if allowed is not None and not (
        isinstance(allowed, list) and all(isinstance(c, str) for c in allowed)
    ):
        raise Err("config: `allowed_clients` must be a list of client ids")
    return tenant, allowed


class WitWorld(wit_world.WitWorld):
    def on_token(self, ctx: TokenContext) -> Decision:
        # Returning is `ok`; raising componentize_py_types.Err is `err`; any
        # other exception traps.
        tenant, allowed = read_config(ctx.config_json)

        if allowed is not None and ctx.client.id not in allowed:
            host.log(host.Level.INFO, f"client {ctx.client.id} is not allowed for tenant {tenant}")
            return Decision_Deny(
                Denial(DenialCode.ACCESS_DENIED, "client is not allowed for this tenant")
            )

        claims = json.dumps({"tenant": tenant})
        id_claims = claims if ctx.id_token_claims_json is not None else "{}"
        return Decision_Allow(ClaimsPatch(claims, id_claims, []))
