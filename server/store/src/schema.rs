//! The diesel schema, shared by both backends (migrations/sqlite and
//! migrations/postgres create the same tables).

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        password_hash -> Nullable<Text>,
        email -> Nullable<Text>,
        profile -> Text,
        metadata -> Text,
        roles -> Text,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        confidential -> Bool,
        grant_types -> Text,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        allowed_scopes -> Nullable<Text>,
        allowed_audiences -> Nullable<Text>,
        metadata -> Text,
        service_account_user_id -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        first_party -> Bool,
        disabled -> Bool,
        exchange_audiences -> Text,
        exchange_scopes -> Text,
        exchange_impersonation -> Bool,
        require_pushed_authorization_requests -> Bool,
        jwks -> Nullable<Text>,
        jwks_uri -> Nullable<Text>,
        jwt_bearer_issuers -> Text,
        dpop_bound_access_tokens -> Bool,
        backchannel_logout_uri -> Nullable<Text>,
        require_signed_request_object -> Bool,
        frontchannel_logout_uri -> Nullable<Text>,
    }
}

diesel::table! {
    client_secrets (id) {
        id -> Text,
        client_id -> Text,
        secret_hash -> Text,
        hint -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    apis (id) {
        id -> Text,
        identifier -> Text,
        name -> Text,
        alg -> Text,
        token_lifetime_secs -> BigInt,
        scopes -> Text,
        hs256_secret_enc -> Nullable<Binary>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        state -> Text,
        private_key_enc -> Binary,
        public_jwk -> Text,
        created_at -> BigInt,
        activated_at -> Nullable<BigInt>,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> BigInt,
        actor -> Text,
        action -> Text,
        target -> Text,
        detail -> Text,
        seq -> Nullable<BigInt>,
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
    }
}

diesel::table! {
    audit_chain (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    plugins (id) {
        id -> Text,
        name -> Text,
        created_at -> BigInt,
        last_version -> Integer,
    }
}

diesel::table! {
    plugin_versions (id) {
        id -> Text,
        plugin_id -> Text,
        version -> Integer,
        sha256 -> Text,
        size -> BigInt,
        wasm -> Binary,
        world -> Text,
        declared_claims -> Nullable<Text>,
        interface -> Text,
        uploaded_by -> Text,
        uploaded_at -> BigInt,
        signed_by -> Nullable<Text>,
        signature -> Nullable<Text>,
    }
}

diesel::table! {
    bindings (id) {
        id -> Text,
        plugin_id -> Text,
        plugin_version_id -> Text,
        trigger_name -> Text,
        grant_types -> Text,
        client_ids -> Nullable<Text>,
        position -> Integer,
        enabled -> Bool,
        config -> Text,
        secrets_enc -> Nullable<Binary>,
        secret_names -> Text,
        failure_policy -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        shadow_version_id -> Nullable<Text>,
        shadow_share -> Nullable<Double>,
        shadow_sensitive_claims -> Nullable<Text>,
        shadow_since -> Nullable<BigInt>,
        http_allow -> Text,
        http_cache_ttl_secs -> Nullable<BigInt>,
    }
}

diesel::table! {
    shadow_totals (binding_id) {
        binding_id -> Text,
        version_id -> Text,
        compared -> BigInt,
        differed -> BigInt,
        live_errors -> BigInt,
        shadow_errors -> BigInt,
        skipped -> BigInt,
    }
}

diesel::table! {
    shadow_results (id) {
        id -> Text,
        binding_id -> Text,
        version_id -> Text,
        at -> BigInt,
        live_us -> BigInt,
        shadow_us -> BigInt,
        live_outcome -> Text,
        shadow_outcome -> Text,
        differed -> Bool,
        diff -> Text,
    }
}

diesel::table! {
    plugin_runs (id) {
        id -> Text,
        binding_id -> Text,
        plugin_version_id -> Text,
        grant_type -> Text,
        client_id -> Text,
        at -> BigInt,
        duration_us -> BigInt,
        outcome -> Text,
        detail -> Text,
        logs -> Text,
        http -> Text,
    }
}

diesel::joinable!(client_secrets -> clients (client_id));
diesel::joinable!(plugin_versions -> plugins (plugin_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    clients,
    client_secrets,
    apis,
    signing_keys,
    audit_events,
    plugins,
    plugin_versions,
    bindings,
    plugin_runs,
);

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        family_id -> Text,
        token_hash -> Text,
        client_id -> Text,
        user_id -> Text,
        api_id -> Text,
        scopes -> Text,
        created_at -> BigInt,
        absolute_expires_at -> BigInt,
        idle_expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        grant_type -> Nullable<Text>,
        access_jti -> Nullable<Text>,
        access_expires_at -> Nullable<BigInt>,
        dpop_jkt -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        sid -> Nullable<Text>,
        amr -> Nullable<Text>,
    }
}

diesel::table! {
    revocations (id) {
        id -> BigInt,
        kind -> Text,
        subject -> Text,
        issued_before -> BigInt,
        expires_at -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    login_failures (throttle_key) {
        throttle_key -> Text,
        window_start -> BigInt,
        failures -> Integer,
        locked_until -> BigInt,
        strikes -> Integer,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        amr -> Text,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        user_id -> Text,
        redirect_uri -> Text,
        scopes -> Text,
        audience -> Nullable<Text>,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        family_id -> Text,
        access_jti -> Nullable<Text>,
        access_expires_at -> Nullable<BigInt>,
        replayed_at -> Nullable<BigInt>,
        dpop_jkt -> Nullable<Text>,
        sid -> Nullable<Text>,
        amr -> Nullable<Text>,
    }
}

diesel::table! {
    session_clients (session_hash, client_id) {
        session_hash -> Text,
        client_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    consents (user_id, client_id, api_id) {
        user_id -> Text,
        client_id -> Text,
        api_id -> Text,
        scopes -> Text,
        granted_at -> BigInt,
    }
}

diesel::table! {
    api_resource_servers (api_id, client_id) {
        api_id -> Text,
        client_id -> Text,
    }
}

diesel::table! {
    api_scope_descriptions (api_id, scope) {
        api_id -> Text,
        scope -> Text,
        description -> Text,
    }
}

diesel::table! {
    admins (id) {
        id -> Text,
        username -> Text,
        password_hash -> Text,
        created_at -> BigInt,
        last_login_at -> Nullable<BigInt>,
        role -> Text,
        disabled -> Bool,
        totp_secret_enc -> Nullable<Binary>,
        totp_last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    admin_recovery_codes (code_hash) {
        code_hash -> Text,
        admin_id -> Text,
    }
}

diesel::table! {
    admin_passkeys (id) {
        id -> Text,
        admin_id -> Text,
        credential_id -> Text,
        name -> Text,
        credential -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    admin_passkey_ceremonies (session_hash) {
        session_hash -> Text,
        kind -> Text,
        state_enc -> Binary,
        expires_at -> BigInt,
    }
}

diesel::table! {
    console_settings (id) {
        id -> Integer,
        require_second_factor -> Bool,
    }
}

diesel::table! {
    admin_sessions (id_hash) {
        id_hash -> Text,
        admin_id -> Text,
        csrf -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        pending -> Nullable<Text>,
    }
}

diesel::table! {
    admin_invitations (token_hash) {
        token_hash -> Text,
        role -> Text,
        invited_by -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    admin_setup_tokens (token_hash) {
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    device_codes (device_code_hash) {
        device_code_hash -> Text,
        user_code_hash -> Text,
        client_id -> Text,
        scopes -> Text,
        audience -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        interval_secs -> BigInt,
        last_polled_at -> Nullable<BigInt>,
        status -> Text,
        user_id -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        used_at -> Nullable<BigInt>,
        amr -> Nullable<Text>,
    }
}

diesel::table! {
    pushed_requests (request_uri_hash) {
        request_uri_hash -> Text,
        client_id -> Text,
        params -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        opened_at -> Nullable<BigInt>,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    client_assertion_jtis (client_id, jti) {
        client_id -> Text,
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    dpop_proof_jtis (jkt, jti) {
        jkt -> Text,
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::joinable!(admin_sessions -> admins (admin_id));
diesel::allow_tables_to_appear_in_same_query!(admins, admin_sessions);

diesel::table! {
    config_generation (id) {
        id -> Integer,
        config -> BigInt,
        locks -> BigInt,
    }
}

diesel::joinable!(session_clients -> clients (client_id));
diesel::allow_tables_to_appear_in_same_query!(session_clients, clients);

diesel::table! {
    logout_notices (id) {
        id -> Text,
        client_id -> Text,
        uri -> Text,
        user_id -> Text,
        sid -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    client_registrations (client_id) {
        client_id -> Text,
        token_hash -> Text,
        registered -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::joinable!(client_registrations -> clients (client_id));
diesel::allow_tables_to_appear_in_same_query!(client_registrations, clients);

diesel::table! {
    user_second_factors (user_id) {
        user_id -> Text,
        totp_secret_enc -> Nullable<Binary>,
        totp_last_step -> Nullable<BigInt>,
        enrolled_at -> Nullable<BigInt>,
        required -> Bool,
    }
}

diesel::table! {
    user_recovery_codes (code_hash) {
        code_hash -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    pending_sign_ins (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        enrol -> Bool,
        created_at -> BigInt,
        expires_at -> BigInt,
        session_id_hash -> Nullable<Text>,
    }
}
