-- Issue #13 item 2: a change counter for the in-memory snapshot of what
-- the client_credentials path reads (service/snapshot.rs). Every node reads
-- this one row every ~200 ms and rebuilds its snapshot when `config`
-- changed; `locks` counts changes of client-authentication locks
-- (login_failures rows keyed `client:`), mirrored in memory the same way.
-- Triggers bump the counters in the writer's own transaction, so every
-- writer is seen (console, CLI processes, other nodes) and a reader that
-- sees a new value also sees the data that came with it.
CREATE TABLE config_generation (
    id INTEGER PRIMARY KEY NOT NULL,
    config BIGINT NOT NULL,
    locks BIGINT NOT NULL
);
INSERT INTO config_generation (id, config, locks) VALUES (1, 0, 0);
CREATE FUNCTION bump_config_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE config_generation SET config = config + 1 WHERE id = 1;
    RETURN NULL;
END $$;
CREATE FUNCTION bump_lock_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE config_generation SET locks = locks + 1 WHERE id = 1;
    RETURN NULL;
END $$;
CREATE TRIGGER users_config_generation AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation();
CREATE TRIGGER clients_config_generation AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation();
CREATE TRIGGER client_secrets_config_generation AFTER INSERT OR UPDATE OR DELETE ON client_secrets
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation();
CREATE TRIGGER apis_config_generation AFTER INSERT OR UPDATE OR DELETE ON apis
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation();
CREATE TRIGGER plugin_versions_config_generation AFTER INSERT OR UPDATE OR DELETE ON plugin_versions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation();
CREATE TRIGGER bindings_config_generation AFTER INSERT OR UPDATE OR DELETE ON bindings
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation();
CREATE TRIGGER login_failures_locks_update AFTER UPDATE OF locked_until ON login_failures
    FOR EACH ROW WHEN (NEW.locked_until <> OLD.locked_until AND NEW.throttle_key LIKE 'client:%')
    EXECUTE FUNCTION bump_lock_generation();
CREATE TRIGGER login_failures_locks_delete AFTER DELETE ON login_failures
    FOR EACH ROW WHEN (OLD.locked_until > 0 AND OLD.throttle_key LIKE 'client:%')
    EXECUTE FUNCTION bump_lock_generation();
