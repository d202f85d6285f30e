// {{name}}: a Tessera token plugin. Sets the access-token claim `hello` to
// the client id. build.sh generates the bindings (module wit_component) and
// builds this file as their package export_wit_world.
package export_wit_world

import (
	"encoding/json"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
	. "wit_component/tessera_plugin_types"
)

// OnToken is the world's `on-token` export.
func OnToken(ctx TokenContext) witTypes.Result[Decision, string] {
	claims, err := json.Marshal(map[string]string{"hello": ctx.Client.Id})
	if err != nil {
		return witTypes.Err[Decision](err.Error())
	}
	return witTypes.Ok[Decision, string](MakeDecisionAllow(ClaimsPatch{
		AccessTokenClaimsJson: string(claims),
		IdTokenClaimsJson:     "{}",
		DropScopes:            []string{},
	}))
	// deny: MakeDecisionDeny(Denial{Code: DenialCode_AccessDenied, Description: "..."})
}
