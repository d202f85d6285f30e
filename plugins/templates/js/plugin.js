// {{name}}: a Tessera token plugin. Sets the access-token claim `hello` to
// the client id. Fields are camelCase (ctx.client.id, ctx.configJson,
// ctx.user?.roles).
import { log } from 'tessera:plugin/host';

export function onToken(ctx) {
  log('debug', `grant ${ctx.grantType}`);
  return {
    tag: 'allow',
    val: { accessTokenClaimsJson: JSON.stringify({ hello: ctx.client.id }), idTokenClaimsJson: '{}', dropScopes: [] },
  };
  // deny: return { tag: 'deny', val: { code: 'access-denied', description: '...' } };
  // err:  throw new Error('...');
}
