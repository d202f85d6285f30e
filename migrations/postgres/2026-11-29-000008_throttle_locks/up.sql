-- Sign-in throttling with growing locks (issue #11 item 6): a key that used
-- up its failures is refused until `locked_until`; `strikes` counts the
-- locks so each one lasts longer than the last.
ALTER TABLE login_failures ADD COLUMN locked_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE login_failures ADD COLUMN strikes INTEGER NOT NULL DEFAULT 0;
