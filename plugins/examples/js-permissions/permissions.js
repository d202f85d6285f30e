// js-permissions: turns the user's roles into a `permissions` claim on the
// access token, and drops granted scopes that none of those permissions allow.
//
// Config (the binding's config JSON):
//   {
//     "roles": { "admin": ["read", "write"], "viewer": ["read"] },  // role -> permissions (required)
//     "scope_permissions": { "docs:write": "write" }               // scope -> permission it needs (optional)
//   }
//
// * `permissions` = the sorted union of the permissions of the user's roles;
//   `[]` when there is no user or no role matches. It is always set, so an API
//   can rely on it being there.
// * A granted scope listed in `scope_permissions` is dropped unless its
//   permission is in that set. Scopes not listed are left alone. Scopes only
//   narrow: a plugin can never add one.
// * A config of the wrong shape is a broken binding: the plugin throws, which
//   is `err`, and the binding's failure policy decides.
//
// Build: jco componentize permissions.js --wit ../../wit --world-name token-plugin --backend qjs \
//          --backend-qjs-disable-async -o js-permissions.wasm

import { log } from 'tessera:plugin/host';

function isStringArray(value) {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readConfig(configJson) {
  const config = JSON.parse(configJson);
  if (!isObject(config) || !isObject(config.roles)) {
    throw new Error('config: `roles` must be an object of role name to permission list');
  }
  for (const [role, permissions] of Object.entries(config.roles)) {
    if (!isStringArray(permissions)) {
      throw new Error(`config: roles.${role} must be a list of strings`);
    }
  }
  const scopePermissions = config.scope_permissions ?? {};
  if (!isObject(scopePermissions) || !Object.values(scopePermissions).every((p) => typeof p === 'string')) {
    throw new Error('config: `scope_permissions` must be an object of scope to permission');
  }
  return { roles: config.roles, scopePermissions };
}

// Called by Tessera for every token this binding applies to. Returning is `ok`;
// throwing is `err`.
export function onToken(ctx) {
  const { roles, scopePermissions } = readConfig(ctx.configJson);

  const granted = new Set();
  for (const role of ctx.user?.roles ?? []) {
    // Own properties only: a role named `constructor` must not reach Object.prototype.
    if (Object.hasOwn(roles, role)) {
      for (const permission of roles[role]) granted.add(permission);
    }
  }
  const permissions = [...granted].sort();

  const dropScopes = ctx.grantedScopes.filter(
    (scope) => Object.hasOwn(scopePermissions, scope) && !granted.has(scopePermissions[scope]),
  );
  if (dropScopes.length > 0) {
    log('info', `dropping scopes without a permission: ${dropScopes.join(' ')}`);
  }

  return {
    tag: 'allow',
    val: {
      accessTokenClaimsJson: JSON.stringify({ permissions }),
      idTokenClaimsJson: '{}',
      dropScopes,
    },
  };
}
