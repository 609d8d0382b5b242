-- Events a replica holds because they come after seqs not stored yet (the
-- shared subscription deals a door's events out one by one among the
-- replicas): it writes them here (Hold), and the replica whose commit
-- stores the seqs before them moves them into events in the same
-- transaction, under the door's lock (CommitPulled), so that a door's
-- stream is not stored a commit and a notification per replica in turn.
-- A row is a copy: the replica that wrote it still holds the event, and
-- the door sends it again until it is acked. Rows the stream passed are
-- deleted by the commits of the stream, the others after a few minutes.
CREATE TABLE events_held (
	site   text COLLATE "C" NOT NULL,
	door   text COLLATE "C" NOT NULL,
	epoch  text COLLATE "C" NOT NULL,
	seq    bigint NOT NULL CHECK (seq > 0),
	id     text COLLATE "C" NOT NULL,
	body   text NOT NULL,
	at     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (site, door, epoch, seq)
);
