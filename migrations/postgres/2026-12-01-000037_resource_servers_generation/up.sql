-- Introspection is answered from the in-memory snapshot
-- (service/snapshot.rs), which now holds the resource-server links of
-- every API: a change of them moves the config counter like a change of
-- the other tables the snapshot holds (migration 000014).
CREATE TRIGGER api_resource_servers_config_generation AFTER INSERT OR UPDATE OR DELETE ON api_resource_servers
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation();
