"""python-enrich: adds claims taken from the company's own user service, with
`http.fetch` of tessera:plugin@0.2.0 (the Python twin of rust-enrich).

For a token with a user it GETs `<config.url><user id>` (the id
percent-encoded), sending header `authorization` filled in by Tessera from the
binding secret `config.secret` (default `directory-token`): the plugin names
the secret and never sees it. From the JSON object that comes back it copies
the members named in `config.claims` (default ["department"]) onto the access
token. A 404 adds nothing; any other failure is the plugin's `err`, so the
binding's failure policy decides.

Binding: --http-allow https://directory.example/users/ (the URL's prefix),
--secret directory-token='Bearer ...', optionally --http-cache-ttl 60, and
config {"url": "https://directory.example/users/", "claims": ["department"]}.

Build: componentize-py -d ../../wit/0.2.0 -w token-plugin componentize enrich --stub-wasi -o python-enrich.wasm

`http.fetch` returns the `Response` or raises `componentize_py_types.Err`
whose `value` is one of `http.Error_NotAllowed`, `Error_Timeout`,
`Error_TooLarge`, `Error_Network`, `Error_BadResponse`.
"""

import json
from urllib.parse import quote

import wit_world
from componentize_py_types import Err
from wit_world.imports import http
from wit_world.imports.types import ClaimsPatch, Decision, Decision_Allow, TokenContext

UNCHANGED = Decision_Allow(ClaimsPatch("{}", "{}", []))


class WitWorld(wit_world.WitWorld):
    def on_token(self, ctx: TokenContext) -> Decision:
        # Returning is `ok`; raising Err is `err`; any other exception traps.
        config = json.loads(ctx.config_json)
        base = config.get("url") if isinstance(config, dict) else None
        if not isinstance(base, str):
            raise Err("config: `url` (the user service's base URL) is required")
        claims = config.get("claims", ["department"])
        if not (isinstance(claims, list) and all(isinstance(c, str) for c in claims)):
            raise Err("config: `claims` must be a list of names")
        if ctx.user is None:
            return UNCHANGED
        request = http.Request(
            method=http.Method.GET,
            url=base + quote(ctx.user.id, safe=""),
            headers=[("accept", "application/json")],
            secret_headers=[http.SecretHeader("authorization", config.get("secret", "directory-token"))],
            body_json=None,
        )
        try:
            answer = http.fetch(request)
        except Err as e:
            raise Err(f"user service: {type(e.value).__name__.removeprefix('Error_')}")
        if answer.status == 404:
            return UNCHANGED
        if answer.status != 200:
            raise Err(f"user service answered HTTP {answer.status}")
        found = json.loads(answer.body)
        patch = {name: found[name] for name in claims if name in found}
        return Decision_Allow(ClaimsPatch(json.dumps(patch), "{}", []))
