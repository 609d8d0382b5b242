-- The keys sealing the guests' personal data (hub/workflow's Keys), one
-- per permit request, shared by the hub replicas: a request filed on one
-- reads on every other. A purge deletes its requests' keys and rewrites
-- the table (VACUUM FULL kv_keys: a new file, the old one unlinked), so
-- that what is left of a purged request in the kv table's dead rows is
-- unreadable.
CREATE TABLE kv_keys (
	id  text COLLATE "C" PRIMARY KEY,
	key bytea NOT NULL CHECK (length(key) = 32)
);
