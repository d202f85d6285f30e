-- Introspection is answered from the in-memory snapshot
-- (service/snapshot.rs), which now holds the resource-server links of
-- every API: a change of them moves the config counter like a change of
-- the other tables the snapshot holds (migration 000014).
CREATE TRIGGER api_resource_servers_config_generation_insert AFTER INSERT ON api_resource_servers
BEGIN UPDATE config_generation SET config = config + 1 WHERE id = 1; END;
CREATE TRIGGER api_resource_servers_config_generation_update AFTER UPDATE ON api_resource_servers
BEGIN UPDATE config_generation SET config = config + 1 WHERE id = 1; END;
CREATE TRIGGER api_resource_servers_config_generation_delete AFTER DELETE ON api_resource_servers
BEGIN UPDATE config_generation SET config = config + 1 WHERE id = 1; END;
