-- The guest book's events a commit stored without numbering them in the
-- book's order: it found the book's lock taken (another replica's commit
-- held it) and did not wait for it, so that replicas storing different
-- doors do not commit one after the other. The next commit or catch-up
-- that takes the lock numbers them, door by door in seq order, before
-- its own (migrations/0003_book_order.sql).
ALTER TABLE events ADD COLUMN book_pending boolean CHECK (book_pending);
CREATE INDEX events_book_pending ON events (site, door, ord, seq) WHERE book_pending;
