ALTER TABLE login_failures DROP COLUMN strikes;
ALTER TABLE login_failures DROP COLUMN locked_until;
