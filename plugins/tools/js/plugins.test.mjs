// Behaviour tests for the built examples and fixtures (run by plugins/test.sh).
// Each plugin runs under Node.js via jco (see run-plugin.mjs), a fresh instance
// per call. loop-forever and grow-memory need a deadline and a memory cap, which
// only the real host has: the server's plugin-host tests cover them.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { loadPlugin } from './run-plugin.mjs';

const OUT = process.env.TESSERA_PLUGIN_OUT;
const SAMPLE = process.env.TESSERA_PLUGIN_SAMPLE_CONTEXT;
if (!OUT || !SAMPLE) throw new Error('set TESSERA_PLUGIN_OUT and TESSERA_PLUGIN_SAMPLE_CONTEXT (plugins/test.sh does)');

const sample = JSON.parse(await readFile(SAMPLE, 'utf8'));
// A context built from the sample file with some fields replaced.
const ctx = (changes = {}) => ({ ...structuredClone(sample), ...changes });
const noUser = (changes = {}) => ctx({ user: null, ...changes });

const loaded = new Map();
function plugin(kind, name) {
  const path = join(OUT, kind, `${name}.wasm`);
  if (!loaded.has(path)) loaded.set(path, loadPlugin(path));
  return loaded.get(path);
}
const run = async (kind, name, context) => (await plugin(kind, name)).run(context);
const fixture = (name, context = ctx()) => run('fixtures', name, context);
const example = (name, context) => run('examples', name, context);

describe('fixtures', () => {
  test('allow-claim sets the fixture claim on both tokens and logs one line', async () => {
    const r = await fixture('allow-claim');
    assert.equal(r.outcome, 'allow');
    assert.deepEqual(r.access_token_claims, { fixture: 'allow-claim' });
    assert.deepEqual(r.id_token_claims, { fixture: 'allow-claim' });
    assert.deepEqual(r.drop_scopes, []);
    assert.deepEqual(r.logs, [{ level: 'info', message: 'allow-claim ran' }]);
  });

  test('echo-context echoes what the plugin saw, secret names sorted, never values', async () => {
    const r = await fixture('echo-context', ctx({ config: { a: [1, 'b'] }, secrets: { zeta: 'z-secret', alpha: 'a-secret' } }));
    assert.equal(r.outcome, 'allow');
    assert.deepEqual(r.access_token_claims, {
      ctx: {
        grant_type: 'client_credentials',
        client_id: 'billing-api-tests',
        user_id: sample.user.id,
        user_source: 'service-account',
        granted_scopes: sample.granted_scopes,
        audience: sample.audience,
        config: { a: [1, 'b'] },
        secret_names: ['alpha', 'zeta'],
      },
    });
    assert.doesNotMatch(JSON.stringify(r), /-secret/);
  });

  test('echo-context reports null user fields when there is no user', async () => {
    const r = await fixture('echo-context', noUser());
    assert.equal(r.access_token_claims.ctx.user_id, null);
    assert.equal(r.access_token_claims.ctx.user_source, null);
  });

  test('drop-scope drops exactly the configured scopes', async () => {
    const r = await fixture('drop-scope', ctx({ config: { drop: ['invoices:write', 'not-granted'] } }));
    assert.equal(r.outcome, 'allow');
    assert.deepEqual(r.drop_scopes, ['invoices:write', 'not-granted']);
    assert.deepEqual(r.access_token_claims, {});
  });

  test('deny denies with access-denied', async () => {
    const r = await fixture('deny');
    assert.deepEqual([r.outcome, r.code, r.description], ['deny', 'access-denied', 'denied by fixture']);
  });

  test('plugin-error returns err', async () => {
    const r = await fixture('plugin-error');
    assert.deepEqual([r.outcome, r.message], ['error', 'fixture failure']);
  });

  test('trap traps', async () => {
    assert.equal((await fixture('trap')).outcome, 'trap');
  });

  test('oversized-output returns a 1 MiB claim', async () => {
    const r = await fixture('oversized-output');
    assert.equal(r.access_token_claims.big.length, 1 << 20);
  });

  test('reserved-claim tries to set sub', async () => {
    const r = await fixture('reserved-claim');
    assert.deepEqual(r.access_token_claims, { sub: 'reserved-claim', fixture: 'reserved-claim' });
  });

  test('malformed-claims returns claims that are not JSON, or with a config not an object', async () => {
    assert.deepEqual((await fixture('malformed-claims')).access_token_claims, { invalid_json: '{"fixture": ' });
    const r = await fixture('malformed-claims', ctx({ config: { variant: 'not-an-object' } }));
    assert.deepEqual(r.access_token_claims, ['fixture']);
  });

  test('log-flood logs 10,000 lines of 10 KiB and allows unchanged', async () => {
    const r = await fixture('log-flood');
    assert.equal(r.outcome, 'allow');
    assert.equal(r.logs.length, 10_000);
    assert.ok(r.logs.every((l) => l.message.length === 10 * 1024));
    assert.deepEqual([r.access_token_claims, r.drop_scopes], [{}, []]);
  });

  test('wrong-world is a component whose on-token cannot be called as a token plugin', async () => {
    assert.equal((await fixture('wrong-world')).outcome, 'trap');
  });

  test('not-a-component does not load as a component', async () => {
    await assert.rejects(plugin('fixtures', 'not-a-component'));
  });
});

// go-username applies rust-username's rule in Go: the same tests.
for (const name of ['rust-username', 'go-username']) describe(name, () => {
  const CLAIM = 'https://example.com/username';

  test('adds the username to the access token of a service-account user', async () => {
    const r = await example(name, ctx());
    assert.equal(r.outcome, 'allow');
    assert.deepEqual(r.access_token_claims, { [CLAIM]: 'svc-billing-tests' });
    assert.deepEqual(r.id_token_claims, {});
  });

  test('adds it to the ID token too when one is issued', async () => {
    const context = { ...ctx({ grant_type: 'authorization_code', id_token_claims: { sub: 'x' } }) };
    context.user = { ...sample.user, username: 'alice', source: 'signed-in' };
    const r = await example(name, context);
    assert.deepEqual(r.access_token_claims, { [CLAIM]: 'alice' });
    assert.deepEqual(r.id_token_claims, { [CLAIM]: 'alice' });
  });

  test('adds nothing without a user', async () => {
    const r = await example(name, noUser());
    assert.deepEqual([r.outcome, r.access_token_claims, r.id_token_claims], ['allow', {}, {}]);
  });

  test('config may rename the claim', async () => {
    const r = await example(name, ctx({ config: { claim: 'login' } }));
    assert.deepEqual(r.access_token_claims, { login: 'svc-billing-tests' });
  });

  test('a claim name that is not a string is err', async () => {
    assert.equal((await example(name, ctx({ config: { claim: 5 } }))).outcome, 'error');
  });
});

describe('js-permissions', () => {
  const config = {
    roles: { admin: ['write', 'read'], viewer: ['read'] },
    scope_permissions: { 'invoices:read': 'read', 'invoices:write': 'write' },
  };

  test('maps roles to permissions and drops scopes no permission allows', async () => {
    const r = await example('js-permissions', ctx({ config }));
    assert.equal(r.outcome, 'allow');
    assert.deepEqual(r.access_token_claims, { permissions: ['read'] });
    assert.deepEqual(r.drop_scopes, ['invoices:write']);
    assert.equal(r.logs.length, 1);
  });

  test('the union of several roles is sorted and keeps every allowed scope', async () => {
    const context = ctx({ config });
    context.user.roles = ['viewer', 'admin', 'unknown', 'constructor'];
    const r = await example('js-permissions', context);
    assert.deepEqual(r.access_token_claims, { permissions: ['read', 'write'] });
    assert.deepEqual(r.drop_scopes, []);
  });

  test('without a user the permissions are empty and mapped scopes are dropped', async () => {
    const r = await example('js-permissions', noUser({ config, granted_scopes: ['invoices:read', 'openid'] }));
    assert.deepEqual(r.access_token_claims, { permissions: [] });
    assert.deepEqual(r.drop_scopes, ['invoices:read']);
  });

  test('a config without roles is err', async () => {
    assert.equal((await example('js-permissions', ctx({ config: {} }))).outcome, 'error');
  });
});

describe('python-tenant', () => {
  test('sets the tenant claim on the access token', async () => {
    const r = await example('python-tenant', ctx({ config: { tenant: 'acme' } }));
    assert.equal(r.outcome, 'allow');
    assert.deepEqual([r.access_token_claims, r.id_token_claims], [{ tenant: 'acme' }, {}]);
  });

  test('sets it on the ID token too when one is issued', async () => {
    const r = await example('python-tenant', ctx({ config: { tenant: 'acme' }, id_token_claims: {} }));
    assert.deepEqual(r.id_token_claims, { tenant: 'acme' });
  });

  test('allows a client on the allow-list', async () => {
    const r = await example('python-tenant', ctx({ config: { tenant: 'acme', allowed_clients: ['x', 'billing-api-tests'] } }));
    assert.equal(r.outcome, 'allow');
  });

  test('denies a client not on the allow-list with access-denied', async () => {
    const r = await example('python-tenant', ctx({ config: { tenant: 'acme', allowed_clients: ['web-app'] } }));
    assert.deepEqual([r.outcome, r.code], ['deny', 'access-denied']);
  });

  test('a config without tenant is err', async () => {
    assert.equal((await example('python-tenant', ctx({ config: { allowed_clients: [] } }))).outcome, 'error');
  });
});

// zig-audience-guard applies c-audience-guard's rule in Zig: the same tests.
for (const name of ['c-audience-guard', 'zig-audience-guard']) describe(name, () => {
  const guard = (config, changes = {}) => example(name, ctx({ config, ...changes }));

  test('allows a token whose every audience is allowed, unchanged', async () => {
    const r = await guard({ allowed_audiences: ['https://other.example.com', 'https://api.example.com/billing'] });
    assert.deepEqual([r.outcome, r.access_token_claims, r.id_token_claims, r.drop_scopes], ['allow', {}, {}, []]);
  });

  test('denies a token with an audience not allowed, with access-denied', async () => {
    const r = await guard({ allowed_audiences: ['https://other.example.com'] });
    assert.deepEqual([r.outcome, r.code], ['deny', 'access-denied']);
    assert.match(r.description, /https:\/\/api\.example\.com\/billing/);
  });

  test('denies when one of several audiences is not allowed', async () => {
    const r = await guard({ allowed_audiences: ['https://api.example.com/billing'] }, { audience: ['https://api.example.com/billing', 'https://evil.example'] });
    assert.equal(r.outcome, 'deny');
  });

  test('allows a token without audience', async () => {
    assert.equal((await guard({ allowed_audiences: [] }, { audience: [] })).outcome, 'allow');
  });

  test('reads JSON escapes and skips other keys, nested values included', async () => {
    const config = { other: { allowed_audiences: ['nope'], list: [1, 2.5e3, true, null, '"]}'] }, allowed_audiences: ['caf\u00e9 \ud83d\ude00', 'https://api.example.com/billing'] };
    assert.equal((await guard(config)).outcome, 'allow');
    assert.equal((await guard(config, { audience: ['caf\u00e9 \ud83d\ude00'] })).outcome, 'allow');
    assert.equal((await guard(config, { audience: ['nope'] })).outcome, 'deny');
  });

  test('decodes escaped quotes, backslashes and control characters', async () => {
    // JSON.stringify writes these as \", \\, \n and \u0001 in the config text.
    const odd = 'a"b\\c\nd\u0001e/';
    assert.equal((await guard({ allowed_audiences: [odd] }, { audience: [odd] })).outcome, 'allow');
    assert.equal((await guard({ allowed_audiences: [odd] }, { audience: ['a"b\\c'] })).outcome, 'deny');
  });

  test('a config without allowed_audiences is err', async () => {
    assert.equal((await guard({ allowed: ['x'] })).outcome, 'error');
    assert.equal((await guard({ allowed_audiences: 'https://api.example.com/billing' })).outcome, 'error');
    assert.equal((await guard({ allowed_audiences: [1] })).outcome, 'error');
  });
});
