-- The doors' events (hub/ingest/pgevents), as hub/ingest's bbolt store
-- keeps them. Names are ids (permit.CheckID) compared as bytes (COLLATE
-- "C"), whatever the database's collation, so that every list reads in
-- the order the bbolt store gives.

-- One row per stream: a door's epoch. ord numbers a door's epochs from 1
-- as first seen; through is the highest seq stored, every seq from 1 to
-- it stored or in a lost run; lost counts the seqs of those runs.
CREATE TABLE events_epochs (
	site    text COLLATE "C" NOT NULL,
	door    text COLLATE "C" NOT NULL,
	epoch   text COLLATE "C" NOT NULL,
	ord     bigint NOT NULL CHECK (ord > 0),
	through bigint NOT NULL CHECK (through >= 0),
	lost    bigint NOT NULL DEFAULT 0 CHECK (lost >= 0 AND lost <= through),
	PRIMARY KEY (site, door, epoch),
	UNIQUE (site, door, ord)
);

-- One row per event. body is the event's JSON as the ingest encoded it,
-- kept verbatim (text: the hub reads it back whole; body::jsonb serves an
-- operator's query). ord is the epoch's, so that a door's log reads in
-- one index: epoch after epoch, each in seq order. permit is NULL for an
-- event of none.
CREATE TABLE events (
	site   text COLLATE "C" NOT NULL,
	door   text COLLATE "C" NOT NULL,
	epoch  text COLLATE "C" NOT NULL,
	seq    bigint NOT NULL CHECK (seq > 0),
	ord    bigint NOT NULL,
	id     text COLLATE "C" NOT NULL,
	type   text COLLATE "C" NOT NULL,
	permit text COLLATE "C",
	body   text NOT NULL,
	PRIMARY KEY (site, door, epoch, seq),
	UNIQUE (id)
);
-- Walk and Recent of a door's whole log
CREATE INDEX events_log ON events (site, door, ord, seq);
-- Recent of one type (the console's filter), WalkTypes' guest-book types
CREATE INDEX events_by_type ON events (site, door, type, ord, seq);
-- Recent of one permit (a visit's events)
CREATE INDEX events_by_permit ON events (site, door, permit, ord, seq) WHERE permit IS NOT NULL;

-- Runs of seqs an operator accepted as lost (ingest.Lost), for auditors.
CREATE TABLE events_lost (
	site      text COLLATE "C" NOT NULL,
	door      text COLLATE "C" NOT NULL,
	epoch     text COLLATE "C" NOT NULL,
	from_seq  bigint NOT NULL CHECK (from_seq > 0),
	to_seq    bigint NOT NULL CHECK (to_seq >= from_seq),
	at        timestamptz NOT NULL,
	by_whom   text NOT NULL,
	reason    text NOT NULL,
	PRIMARY KEY (site, door, epoch, from_seq),
	FOREIGN KEY (site, door, epoch) REFERENCES events_epochs
);
