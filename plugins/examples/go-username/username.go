// go-username: adds the user's login name as a claim, for every grant that
// has a user. The same rule as examples/rust-username, in Go.
//
// The claim goes on the access token and, when one is issued, on the ID
// token. Without a user (client_credentials of a client with no service
// account) it adds nothing. The claim name defaults to
// `https://example.com/username`; the binding's config may override it:
// `{"claim": "https://acme.test/login"}`.
//
// build.sh generates the bindings (`wit-bindgen go`, module `wit_component`)
// next to a copy of this file, which is their package export_wit_world, and
// builds them with the standard Go toolchain for wasip1. See plugins/README.md.
package export_wit_world

import (
	"encoding/json"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
	. "wit_component/tessera_plugin_types"
)

// defaultClaim is the claim set when the config names none.
const defaultClaim = "https://example.com/username"

// OnToken is the world's `on-token` export.
func OnToken(ctx TokenContext) witTypes.Result[Decision, string] {
	claim, problem := claimName(ctx.ConfigJson)
	if problem != "" {
		// A misconfigured binding is a broken plugin, not a client error:
		// err lets the binding's failure policy decide.
		return witTypes.Err[Decision](problem)
	}
	if ctx.User.IsNone() {
		return allow("{}", "{}")
	}
	patch, err := json.Marshal(map[string]string{claim: ctx.User.Some().Username})
	if err != nil {
		return witTypes.Err[Decision](err.Error())
	}
	idPatch := "{}"
	if ctx.IdTokenClaimsJson.IsSome() {
		idPatch = string(patch)
	}
	return allow(string(patch), idPatch)
}

// claimName reads `claim` from the binding's config; the second value
// explains a config that is not usable.
func claimName(configJSON string) (string, string) {
	var config map[string]any
	if err := json.Unmarshal([]byte(configJSON), &config); err != nil {
		return "", "config-json is not a JSON object: " + err.Error()
	}
	switch claim := config["claim"].(type) {
	case nil:
		return defaultClaim, ""
	case string:
		if claim != "" {
			return claim, ""
		}
	}
	return "", "config: `claim` must be a non-empty string"
}

func allow(accessClaims, idClaims string) witTypes.Result[Decision, string] {
	return witTypes.Ok[Decision, string](MakeDecisionAllow(ClaimsPatch{
		AccessTokenClaimsJson: accessClaims,
		IdTokenClaimsJson:     idClaims,
		DropScopes:            []string{},
	}))
}
