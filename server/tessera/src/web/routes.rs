//! Every route path, declared once: the router, discovery and the tests use
//! these constants, never string copies.

/// RFC 6749 §3.2 token endpoint.
pub const TOKEN: &str = "/oauth/token";
/// RFC 7517 JWK Set.
pub const JWKS: &str = "/.well-known/jwks.json";
/// OpenID Connect Discovery 1.0 §4.
pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
/// RFC 8414 §3.
pub const OAUTH_AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";
/// Liveness: the process answers.
pub const HEALTHZ: &str = "/healthz";
/// Readiness: the database answers.
pub const READYZ: &str = "/readyz";
/// Prometheus metrics (`web::metrics`): the admin listener only, when there is one.
pub const METRICS: &str = "/metrics";
/// RFC 7662 token introspection.
pub const INTROSPECT: &str = "/oauth/introspect";
/// RFC 7009 token revocation.
pub const REVOKE: &str = "/oauth/revoke";
/// RFC 6749 §3.1 authorization endpoint.
pub const AUTHORIZE: &str = "/oauth/authorize";
/// The hosted login form's target.
pub const LOGIN: &str = "/login";
/// Its second stage: a code, or enrolling a second factor (POST).
pub const LOGIN_SECOND_FACTOR: &str = "/login/second-factor";
/// OIDC Core §5.3 userinfo endpoint.
pub const USERINFO: &str = "/oauth/userinfo";
/// Embedded static assets.
pub const STATIC: &str = "/static";
/// OpenID Connect RP-Initiated Logout end_session_endpoint.
pub const END_SESSION: &str = "/oauth/logout";
/// The consent form's target.
pub const CONSENT: &str = "/consent";
/// RFC 8628 §3.1 device authorization endpoint.
pub const DEVICE_AUTHORIZATION: &str = "/oauth/device_authorization";
/// RFC 8628 §3.3 the user's page (`verification_uri`): enter the user code,
/// then approve or deny (POST).
pub const DEVICE: &str = "/device";
/// The sign-in form shown on the device page.
pub const DEVICE_LOGIN: &str = "/device/login";
/// Its second stage (POST).
pub const DEVICE_LOGIN_SECOND_FACTOR: &str = "/device/login/second-factor";
/// RFC 9126 §2 pushed authorization request endpoint.
pub const PAR: &str = "/oauth/par";
/// RFC 7591 §3 client registration endpoint; each registered client's
/// configuration endpoint (RFC 7592) is below it, [`registered_client`].
pub const REGISTER: &str = "/oauth/register";

/// The client configuration endpoint's path of `client_id` (RFC 7592 §1).
pub fn registered_client(client_id: &str) -> String {
    format!("{REGISTER}/{client_id}")
}

/// The management API's paths (issue #14), below [`api::PREFIX`]. The
/// handlers' `#[get("/clients")]`-style attributes spell the part after the
/// prefix (actix needs literals there; `web/api` checks in its tests that
/// these functions build paths the OpenAPI document lists).
pub mod api {
    /// Every management path starts with it.
    pub const PREFIX: &str = "/api/v1";
    /// The OpenAPI 3.1 document.
    pub const OPENAPI: &str = "/api/v1/openapi.json";
    /// Clients: list (GET) and create (POST).
    pub const CLIENTS: &str = "/api/v1/clients";
    /// APIs: list (GET) and create (POST).
    pub const APIS: &str = "/api/v1/apis";
    /// Plugins: list (GET).
    pub const PLUGINS: &str = "/api/v1/plugins";
    /// Bindings: list (GET) and create (POST).
    pub const BINDINGS: &str = "/api/v1/bindings";
    /// Users: list (GET) and create (POST).
    pub const USERS: &str = "/api/v1/users";
    /// Signing keys: list (GET) and rotate one algorithm (POST).
    pub const KEYS: &str = "/api/v1/keys";
    /// Console administrators: list (GET) and create (POST).
    pub const ADMINS: &str = "/api/v1/admins";
    /// Audit events: list (GET).
    pub const AUDIT_EVENTS: &str = "/api/v1/audit-events";
    /// The audit log's hash chain head (GET).
    pub const AUDIT_CHAIN: &str = "/api/v1/audit-chain";
    /// Plugin run records: list (GET).
    pub const PLUGIN_RUNS: &str = "/api/v1/plugin-runs";

    /// One signing key.
    pub fn key(kid: &str) -> String {
        format!("{KEYS}/{kid}")
    }

    /// One administrator.
    pub fn admin(id: &str) -> String {
        format!("{ADMINS}/{id}")
    }

    /// An administrator's password (write-only).
    pub fn admin_password(id: &str) -> String {
        format!("{ADMINS}/{id}/password")
    }

    /// An administrator's second factors (DELETE resets them).
    pub fn admin_second_factor(id: &str) -> String {
        format!("{ADMINS}/{id}/second-factor")
    }

    /// One audit event.
    pub fn audit_event(id: &str) -> String {
        format!("{AUDIT_EVENTS}/{id}")
    }

    /// One plugin run record.
    pub fn plugin_run(id: &str) -> String {
        format!("{PLUGIN_RUNS}/{id}")
    }

    /// One client.
    pub fn client(id: &str) -> String {
        format!("{CLIENTS}/{id}")
    }

    /// A client's secrets (POST adds one).
    pub fn client_secrets(id: &str) -> String {
        format!("{CLIENTS}/{id}/secrets")
    }

    /// One secret of a client.
    pub fn client_secret(id: &str, secret: &str) -> String {
        format!("{CLIENTS}/{id}/secrets/{secret}")
    }

    /// One API.
    pub fn api(id: &str) -> String {
        format!("{APIS}/{id}")
    }

    /// One plugin.
    pub fn plugin(name: &str) -> String {
        format!("{PLUGINS}/{name}")
    }

    /// A plugin's versions (POST uploads one).
    pub fn plugin_versions(name: &str) -> String {
        format!("{PLUGINS}/{name}/versions")
    }

    /// One version of a plugin.
    pub fn plugin_version(name: &str, version: i32) -> String {
        format!("{PLUGINS}/{name}/versions/{version}")
    }

    /// One binding.
    pub fn binding(id: &str) -> String {
        format!("{BINDINGS}/{id}")
    }

    /// A binding's shadow candidate and its comparison (GET).
    pub fn binding_shadow(id: &str) -> String {
        format!("{BINDINGS}/{id}/shadow")
    }

    /// Makes a binding's candidate its live version (POST).
    pub fn binding_shadow_promote(id: &str) -> String {
        format!("{BINDINGS}/{id}/shadow/promote")
    }

    /// Clears a binding's candidate (POST).
    pub fn binding_shadow_discard(id: &str) -> String {
        format!("{BINDINGS}/{id}/shadow/discard")
    }

    /// One user.
    pub fn user(id: &str) -> String {
        format!("{USERS}/{id}")
    }

    /// A user's password (PUT sets it; it is never read).
    pub fn user_password(id: &str) -> String {
        format!("{USERS}/{id}/password")
    }

    /// Signs a user out everywhere (POST).
    pub fn user_sign_out(id: &str) -> String {
        format!("{USERS}/{id}/sign-out")
    }

    /// A user's second factor (GET reads, POST changes).
    pub fn user_second_factor(id: &str) -> String {
        format!("{USERS}/{id}/second-factor")
    }

    /// A management path relative to [`PREFIX`], as its scope mounts it.
    pub fn relative(path: &'static str) -> &'static str {
        path.strip_prefix(PREFIX).unwrap_or(path)
    }
}

/// The admin console's paths. Each constant is a full path (or a route
/// pattern with `{id}`-style segments); the functions fill the segments in, so
/// redirects, templates and tests never spell a console path themselves. The
/// router mounts them under [`console::HOME`] (see `web::console::routes`).
pub mod console {
    /// The dashboard; every console path starts with it.
    pub const HOME: &str = "/admin";
    /// The first-run setup form (`?token=` from the printed link).
    pub const SETUP: &str = "/admin/setup";
    /// The sign-in form; where an expired or missing session is sent.
    pub const LOGIN: &str = "/admin/login";
    /// Sign-out.
    pub const LOGOUT: &str = "/admin/logout";
    /// The second-factor code after the password (POST; the form is
    /// [`LOGIN`]'s second stage).
    pub const LOGIN_CODE: &str = "/admin/login/code";
    /// Enrolling a second factor after the password, when the server
    /// requires one (POST; the form is [`LOGIN`]'s second stage).
    pub const LOGIN_ENROL: &str = "/admin/login/enrol";
    /// Your second factor: enrol (GET shows a new secret, POST confirms it).
    pub const ACCOUNT_SECOND_FACTOR: &str = "/admin/account/second-factor";
    /// Remove your second factor.
    pub const ACCOUNT_SECOND_FACTOR_REMOVE: &str = "/admin/account/second-factor/remove";
    /// A passkey sign-in's options for `navigator.credentials.get` (POST,
    /// JSON answer; [`LOGIN`]'s second stage).
    pub const LOGIN_PASSKEY_OPTIONS: &str = "/admin/login/passkey/options";
    /// The passkey's answer completes the waiting session (POST, JSON answer).
    pub const LOGIN_PASSKEY: &str = "/admin/login/passkey";
    /// Enrolling a passkey: options for `navigator.credentials.create`
    /// (POST, JSON answer).
    pub const ACCOUNT_PASSKEY_OPTIONS: &str = "/admin/account/passkeys/options";
    /// Enrolling a passkey: the authenticator's answer and its name (POST,
    /// JSON answer).
    pub const ACCOUNT_PASSKEYS: &str = "/admin/account/passkeys";
    /// Remove one of your passkeys.
    pub const ACCOUNT_PASSKEY_REMOVE: &str = "/admin/account/passkeys/remove";
    /// Require a second factor for every administrator (an owner's switch).
    pub const ADMINS_SECOND_FACTOR: &str = "/admin/admins/second-factor";
    /// The signed-in administrator's own account (password change).
    pub const ACCOUNT: &str = "/admin/account";
    /// Sign out every other session of the signed-in administrator.
    pub const ACCOUNT_SESSIONS: &str = "/admin/account/sessions";
    /// An invitation link (`?token=`): the form where the invitee picks a
    /// username and password.
    pub const INVITATION: &str = "/admin/invitation";
    /// Administrators: list, roles, invitations.
    pub const ADMINS: &str = "/admin/admins";
    /// Create an invitation link (the role in the form).
    pub const ADMIN_INVITE: &str = "/admin/admins/invite";
    /// Change an administrator's role.
    pub const ADMIN_ROLE: &str = "/admin/admins/{id}/role";
    /// Disable or enable an administrator.
    pub const ADMIN_STATUS: &str = "/admin/admins/{id}/status";
    /// Sign an administrator out everywhere.
    pub const ADMIN_SESSIONS: &str = "/admin/admins/{id}/sessions";
    /// Take an administrator's second factors away (a lost device).
    pub const ADMIN_SECOND_FACTOR_RESET: &str = "/admin/admins/{id}/second-factor/reset";
    /// Remove an administrator.
    pub const ADMIN_DELETE: &str = "/admin/admins/{id}/delete";
    /// Users: list (GET) and create (POST).
    pub const USERS: &str = "/admin/users";
    /// The new-user form.
    pub const NEW_USER: &str = "/admin/users/new";
    /// One user: show (GET) and update (POST).
    pub const USER: &str = "/admin/users/{id}";
    /// Set a user's password.
    pub const USER_PASSWORD: &str = "/admin/users/{id}/password";
    /// Disable or enable a user.
    pub const USER_STATUS: &str = "/admin/users/{id}/status";
    /// Delete a user.
    pub const USER_DELETE: &str = "/admin/users/{id}/delete";
    /// Sign a user out everywhere (sessions and tokens end).
    pub const USER_SIGN_OUT: &str = "/admin/users/{id}/sign-out";
    /// Reset a user's second factor, or require one of them (POST).
    pub const USER_SECOND_FACTOR: &str = "/admin/users/{id}/second-factor";
    /// Clients: list (GET) and create (POST).
    pub const CLIENTS: &str = "/admin/clients";
    /// The new-client form.
    pub const NEW_CLIENT: &str = "/admin/clients/new";
    /// One client: show (GET) and update (POST).
    pub const CLIENT: &str = "/admin/clients/{id}";
    /// Delete a client.
    pub const CLIENT_DELETE: &str = "/admin/clients/{id}/delete";
    /// Add a client secret.
    pub const CLIENT_SECRETS: &str = "/admin/clients/{id}/secrets";
    /// Revoke one client secret.
    pub const CLIENT_SECRET_REVOKE: &str = "/admin/clients/{id}/secrets/{secret}/revoke";
    /// Add a trusted issuer of the JWT bearer grant.
    pub const CLIENT_ISSUERS: &str = "/admin/clients/{id}/issuers";
    /// Remove a trusted issuer (named in the form).
    pub const CLIENT_ISSUER_REMOVE: &str = "/admin/clients/{id}/issuers/remove";
    /// Issue a real client_credentials token for an M2M client, shown decoded.
    pub const CLIENT_TEST_TOKEN: &str = "/admin/clients/{id}/test-token";
    /// APIs: list (GET) and create (POST).
    pub const APIS: &str = "/admin/apis";
    /// The new-API form.
    pub const NEW_API: &str = "/admin/apis/new";
    /// One API: show (GET) and update (POST).
    pub const API: &str = "/admin/apis/{id}";
    /// Delete an API.
    pub const API_DELETE: &str = "/admin/apis/{id}/delete";
    /// Set the descriptions of an API's scopes.
    pub const API_SCOPES: &str = "/admin/apis/{id}/scopes";
    /// Plugins: list (GET) and upload (POST).
    pub const PLUGINS: &str = "/admin/plugins";
    /// One plugin and its versions.
    pub const PLUGIN: &str = "/admin/plugins/{name}";
    /// Point a plugin's bindings at an earlier version.
    pub const PLUGIN_ROLLBACK: &str = "/admin/plugins/{name}/rollback";
    /// The plugin test panel: form (GET) and run (POST).
    pub const PLUGIN_TEST: &str = "/admin/plugins/{name}/test";
    /// Delete one version of a plugin (refused while a binding uses it).
    pub const PLUGIN_VERSION_DELETE: &str = "/admin/plugins/{name}/versions/{version}/delete";
    /// Bindings: the matrix (GET) and create (POST).
    pub const BINDINGS: &str = "/admin/bindings";
    /// The new-binding form.
    pub const NEW_BINDING: &str = "/admin/bindings/new";
    /// One binding: show (GET) and update (POST).
    pub const BINDING: &str = "/admin/bindings/{id}";
    /// Move a binding up or down its lane.
    pub const BINDING_MOVE: &str = "/admin/bindings/{id}/move";
    /// Delete a binding.
    pub const BINDING_DELETE: &str = "/admin/bindings/{id}/delete";
    /// Set a binding's shadow candidate.
    pub const BINDING_SHADOW: &str = "/admin/bindings/{id}/shadow";
    /// Make a binding's candidate its live version.
    pub const BINDING_SHADOW_PROMOTE: &str = "/admin/bindings/{id}/shadow/promote";
    /// Clear a binding's candidate.
    pub const BINDING_SHADOW_DISCARD: &str = "/admin/bindings/{id}/shadow/discard";
    /// Signing keys.
    pub const KEYS: &str = "/admin/keys";
    /// Rotate the signing keys.
    pub const KEYS_ROTATE: &str = "/admin/keys/rotate";
    /// Rotate one algorithm's keys.
    pub const KEYS_ROTATE_ALG: &str = "/admin/keys/rotate/{alg}";
    /// Retire one key now (a compromised key).
    pub const KEY_RETIRE: &str = "/admin/keys/{kid}/retire";
    /// The audit log.
    pub const AUDIT: &str = "/admin/audit";
    /// Plugin run records.
    pub const RUNS: &str = "/admin/runs";
    /// The management API's reference, rendered from its OpenAPI document.
    pub const API_REFERENCE: &str = "/admin/api-reference";

    /// An administrator's POST targets: `action(&admin(id), "role")`.
    pub fn admin(id: &str) -> String {
        format!("{ADMINS}/{id}")
    }

    /// One user's page.
    pub fn user(id: &str) -> String {
        format!("{USERS}/{id}")
    }

    /// One client's page.
    pub fn client(id: &str) -> String {
        format!("{CLIENTS}/{id}")
    }

    /// A client's secrets (POST adds one).
    pub fn client_secrets(id: &str) -> String {
        format!("{CLIENTS}/{id}/secrets")
    }

    /// Revoking one of a client's secrets.
    pub fn client_secret_revoke(id: &str, secret: &str) -> String {
        format!("{CLIENTS}/{id}/secrets/{secret}/revoke")
    }

    /// One API's page.
    pub fn api(id: &str) -> String {
        format!("{APIS}/{id}")
    }

    /// One plugin's page.
    pub fn plugin(name: &str) -> String {
        format!("{PLUGINS}/{name}")
    }

    /// One binding's page.
    pub fn binding(id: &str) -> String {
        format!("{BINDINGS}/{id}")
    }

    /// Deleting version `version` of the plugin `name`.
    pub fn plugin_version_delete(name: &str, version: i32) -> String {
        format!("{PLUGINS}/{name}/versions/{version}/delete")
    }

    /// A client's test-token action.
    pub fn client_test_token(id: &str) -> String {
        format!("{CLIENTS}/{id}/test-token")
    }

    /// Rotating the keys of `alg` only.
    pub fn keys_rotate_alg(alg: &str) -> String {
        format!("{KEYS_ROTATE}/{alg}")
    }

    /// Retiring the key `kid` now.
    pub fn key_retire(kid: &str) -> String {
        format!("{KEYS}/{kid}/retire")
    }

    /// `path` followed by `action` (`delete`, `move`, `rollback`, `test`,
    /// `password`, `status`): the POST targets below an object's page.
    pub fn action(path: &str, action: &str) -> String {
        format!("{path}/{action}")
    }

    /// `path` with the `?done=` key of the notice the page shows after a change.
    pub fn done(path: &str, key: &str) -> String {
        format!("{path}?done={key}")
    }

    /// A console route pattern relative to [`HOME`], as the console's scope
    /// mounts it.
    pub fn relative(pattern: &'static str) -> &'static str {
        pattern.strip_prefix(HOME).unwrap_or(pattern)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The functions build the paths the patterns route.
        #[test]
        fn filled_paths_match_their_patterns() {
            assert_eq!(user("u1"), USER.replace("{id}", "u1"));
            assert_eq!(action(&user("u1"), "password"), USER_PASSWORD.replace("{id}", "u1"));
            assert_eq!(client_secrets("c1"), CLIENT_SECRETS.replace("{id}", "c1"));
            assert_eq!(
                client_secret_revoke("c1", "s1"),
                CLIENT_SECRET_REVOKE.replace("{id}", "c1").replace("{secret}", "s1")
            );
            assert_eq!(api("a1"), API.replace("{id}", "a1"));
            assert_eq!(action(&admin("a1"), "role"), ADMIN_ROLE.replace("{id}", "a1"));
            assert_eq!(action(&admin("a1"), "sessions"), ADMIN_SESSIONS.replace("{id}", "a1"));
            assert_eq!(action(&plugin("p"), "test"), PLUGIN_TEST.replace("{name}", "p"));
            assert_eq!(action(&binding("b1"), "move"), BINDING_MOVE.replace("{id}", "b1"));
            let shadow = action(&binding("b1"), "shadow");
            assert_eq!(shadow, BINDING_SHADOW.replace("{id}", "b1"));
            assert_eq!(action(&shadow, "promote"), BINDING_SHADOW_PROMOTE.replace("{id}", "b1"));
            assert_eq!(action(&shadow, "discard"), BINDING_SHADOW_DISCARD.replace("{id}", "b1"));
            assert_eq!(done(CLIENTS, "deleted"), "/admin/clients?done=deleted");
            assert_eq!(keys_rotate_alg("ES256"), KEYS_ROTATE_ALG.replace("{alg}", "ES256"));
            assert_eq!(key_retire("k1"), KEY_RETIRE.replace("{kid}", "k1"));
            assert_eq!(
                plugin_version_delete("p", 2),
                PLUGIN_VERSION_DELETE.replace("{name}", "p").replace("{version}", "2")
            );
            assert_eq!(client_test_token("c1"), CLIENT_TEST_TOKEN.replace("{id}", "c1"));
            assert_eq!(action(&api("a1"), "scopes"), API_SCOPES.replace("{id}", "a1"));
            assert_eq!(relative(USER), "/users/{id}");
            assert_eq!(relative(HOME), "");
        }
    }
}
