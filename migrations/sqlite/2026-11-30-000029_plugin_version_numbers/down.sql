ALTER TABLE plugins DROP COLUMN last_version;
