-- A tamper-evident audit log (issue #18 item 8): each event carries its
-- place in the chain (seq), the hash of the event before it (prev_hash) and
-- its own hash; server/store/src/audit.rs documents the encoding. The one
-- row of audit_chain is the chain's head: appends lock it, so appends from
-- several nodes are serialized and chain in one order.
--
-- Events written before this migration have null columns here: SQL cannot
-- compute SHA-256 on every backend, so the store chains them, oldest first,
-- when it next migrates (tessera_store::audit::chain_unchained).
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_events_seq ON audit_events(seq);

CREATE TABLE audit_chain (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_chain (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
