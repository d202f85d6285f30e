// Runs a Tessera plugin component once under Node.js, without a server, and
// prints what it decided. Used by plugins/test.sh to check the examples and
// fixtures; plugin authors should prefer `tessera plugin run`, which uses the
// real host (this runner has no deadline and no memory cap: it is not a sandbox).
//
//   node run-plugin.mjs PLUGIN.wasm CONTEXT.json
//
// CONTEXT.json is the `tessera plugin run` context format: the WIT's
// token-context with snake_case names, and JSON values where the WIT carries
// JSON text (client.metadata, user.profile, user.metadata, access_token_claims,
// id_token_claims, config, secrets). Output, one JSON object on stdout:
//   {"outcome": "allow", "access_token_claims": ..., "id_token_claims": ..., "drop_scopes": [...], "logs": [...]}
//   {"outcome": "deny", "code": "access-denied", "description": "...", "logs": [...]}
//   {"outcome": "error", "message": "...", "logs": [...]}        (the plugin returned err)
//   {"outcome": "trap", "message": "...", "logs": [...]}         (the guest trapped or the component is unusable)
// Claims that are not valid JSON are printed as {"invalid_json": "<text>"}.
// The plugin's files are transpiled by jco into a temporary directory.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { transpile } from '@bytecodealliance/jco';
import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation';

const json = (value) => JSON.stringify(value ?? {});

// The context file's JSON values become the WIT's JSON strings.
export function toWit(ctx) {
  const user = ctx.user ?? undefined;
  return {
    grantType: ctx.grant_type,
    client: {
      id: ctx.client.id,
      name: ctx.client.name ?? '',
      metadataJson: json(ctx.client.metadata),
      confidential: Boolean(ctx.client.confidential),
    },
    user: user && {
      id: user.id,
      username: user.username,
      email: user.email ?? undefined,
      profileJson: json(user.profile),
      metadataJson: json(user.metadata),
      roles: user.roles ?? [],
      source: user.source,
    },
    requestedScopes: ctx.requested_scopes ?? [],
    grantedScopes: ctx.granted_scopes ?? [],
    audience: ctx.audience ?? [],
    accessTokenClaimsJson: json(ctx.access_token_claims),
    idTokenClaimsJson: ctx.id_token_claims == null ? undefined : json(ctx.id_token_claims),
    configJson: json(ctx.config),
    secretsJson: json(ctx.secrets),
  };
}

function parseClaims(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { invalid_json: text };
  }
}

/**
 * Loads a plugin component. Returns `{ run(context) }`, where `context` is a
 * context-file object and each run uses a fresh instance (as the server does).
 * Throws if the file is not a loadable component.
 */
export async function loadPlugin(pluginPath) {
  const { files } = await transpile(await readFile(pluginPath), {
    name: 'plugin',
    instantiation: { tag: 'async' },
    quiet: true,
  });
  const dir = await mkdtemp(join(tmpdir(), 'tessera-run-plugin-'));
  try {
    const modules = new Map();
    for (const [name, bytes] of Object.entries(files)) {
      if (name.endsWith('.wasm')) modules.set(name, await WebAssembly.compile(bytes));
      else if (name.endsWith('.js')) await writeFile(join(dir, name), bytes);
    }
    const { instantiate } = await import(pathToFileURL(join(dir, 'plugin.js')).href);
    return { run: (context) => runOnce(instantiate, modules, context) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runOnce(instantiate, modules, context) {
  const logs = [];
  const done = (result) => ({ ...result, logs });
  // No preopens, no environment, no arguments, no network: like the server.
  const wasi = new WASIShim({ sandbox: { preopens: {}, env: {}, args: [], enableNetwork: false } });
  const imports = {
    ...wasi.getImportObject(),
    'tessera:plugin/host': { log: (level, message) => logs.push({ level, message }) },
  };
  let decision;
  try {
    const plugin = await instantiate((name) => modules.get(name), imports);
    if (typeof plugin.onToken !== 'function') throw new Error('the component exports no on-token');
    decision = plugin.onToken(toWit(context));
  } catch (e) {
    // jco turns `err(payload)` into a thrown ComponentError carrying it.
    if (e && e.payload !== undefined) return done({ outcome: 'error', message: String(e.payload) });
    return done({ outcome: 'trap', message: String(e?.message ?? e) });
  }
  if (decision?.tag === 'deny') {
    return done({ outcome: 'deny', code: decision.val.code, description: decision.val.description });
  }
  if (decision?.tag !== 'allow') return done({ outcome: 'trap', message: 'on-token returned no decision' });
  return done({
    outcome: 'allow',
    access_token_claims: parseClaims(decision.val.accessTokenClaimsJson),
    id_token_claims: parseClaims(decision.val.idTokenClaimsJson),
    drop_scopes: decision.val.dropScopes,
  });
}

async function main(pluginPath, contextPath) {
  const context = JSON.parse(await readFile(contextPath, 'utf8'));
  let plugin;
  try {
    plugin = await loadPlugin(pluginPath);
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ outcome: 'trap', message: `cannot load: ${e?.message ?? e}`, logs: [] })}\n`);
    return;
  }
  process.stdout.write(`${JSON.stringify(await plugin.run(context))}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [pluginPath, contextPath] = process.argv.slice(2);
  if (!pluginPath || !contextPath) {
    console.error('usage: node run-plugin.mjs PLUGIN.wasm CONTEXT.json');
    process.exit(2);
  }
  await main(pluginPath, contextPath);
}
