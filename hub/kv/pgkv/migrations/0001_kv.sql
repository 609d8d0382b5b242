-- The hub's key-value store (hub/kv/pgkv): bbolt's buckets as rows.
-- bytea compares as bytes, as bbolt's keys do, whatever the database's
-- collation.

-- One row per key of a bucket. A bucket is the rows of its name; it has
-- no row of its own.
CREATE TABLE kv (
	bucket bytea NOT NULL,
	key    bytea NOT NULL CHECK (length(key) BETWEEN 1 AND 1024),
	value  bytea NOT NULL,
	PRIMARY KEY (bucket, key)
);

-- A bucket's sequence (NextSequence), once it has one.
CREATE TABLE kv_sequences (
	bucket bytea PRIMARY KEY,
	seq    bigint NOT NULL CHECK (seq > 0)
);
