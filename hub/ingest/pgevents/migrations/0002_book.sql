-- The guest book kept with the events (ingest.EventStore's Book): its
-- state as hub/workflow encodes it (workflow.KV), a row per visit, door
-- and permit's visit times, written by each commit in the transaction of
-- its events. events_book_kept holds one row once the book is whole: a
-- database of events without it has its book built from the events at
-- the next open, once.
CREATE TABLE events_book (
	k bytea PRIMARY KEY,
	v bytea NOT NULL
);

CREATE TABLE events_book_kept (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	at  timestamptz NOT NULL DEFAULT now()
);
