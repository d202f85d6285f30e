// js-enrich: adds claims taken from the company's own user service, with
// `http.fetch` of tessera:plugin@0.2.0 (the JavaScript twin of rust-enrich).
//
// For a token with a user it GETs `<config.url><user id>` (the id
// percent-encoded), sending header `authorization` filled in by Tessera from
// the binding secret `config.secret` (default `directory-token`): the plugin
// names the secret and never sees it. From the JSON object that comes back it
// copies the members named in `config.claims` (default ["department"]) onto
// the access token. A 404 adds nothing; any other failure throws, which is the
// plugin's `err`, so the binding's failure policy decides.
//
// Binding: --http-allow https://directory.example/users/ (the URL's prefix),
// --secret directory-token='Bearer ...', optionally --http-cache-ttl 60, and
// config {"url": "https://directory.example/users/", "claims": ["department"]}.
//
// Build: jco componentize enrich.js --wit ../../wit/0.2.0 --world-name token-plugin \
//          --backend qjs --backend-qjs-disable-async -o js-enrich.wasm
//
// `fetch` returns the response record, or throws an Error whose `payload` is
// the error variant ({ tag: 'not-allowed' | 'timeout' | 'too-large' |
// 'network' | 'bad-response', val }).

import { log } from 'tessera:plugin/host@0.2.0';
import { fetch } from 'tessera:plugin/http@0.2.0';

const unchanged = { tag: 'allow', val: { accessTokenClaimsJson: '{}', idTokenClaimsJson: '{}', dropScopes: [] } };

export function onToken(ctx) {
  const config = JSON.parse(ctx.configJson);
  if (typeof config.url !== 'string') {
    throw new Error('config: `url` (the user service\'s base URL) is required');
  }
  const claims = config.claims ?? ['department'];
  if (!Array.isArray(claims) || !claims.every((c) => typeof c === 'string')) {
    throw new Error('config: `claims` must be a list of names');
  }
  if (!ctx.user) {
    return unchanged;
  }
  let answer;
  try {
    answer = fetch({
      method: 'get',
      url: config.url + encodeURIComponent(ctx.user.id),
      headers: [['accept', 'application/json']],
      secretHeaders: [{ name: 'authorization', secret: config.secret ?? 'directory-token' }],
      bodyJson: null,
    });
  } catch (e) {
    throw new Error(`user service: ${e?.payload?.tag ?? e}`);
  }
  if (answer.status === 404) {
    log('info', `no entry for ${ctx.user.id}`);
    return unchanged;
  }
  if (answer.status !== 200) {
    throw new Error(`user service answered HTTP ${answer.status}`);
  }
  const found = JSON.parse(answer.body);
  const patch = {};
  for (const name of claims) {
    if (found[name] !== undefined) {
      patch[name] = found[name];
    }
  }
  return { tag: 'allow', val: { accessTokenClaimsJson: JSON.stringify(patch), idTokenClaimsJson: '{}', dropScopes: [] } };
}
