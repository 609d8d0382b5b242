-- The guest book shared by hub replicas. The book's rows are numbered in
-- the order its events were stored, over every door: each replica must
-- apply every stored event the book reads, its own and the others', in
-- that one order, to number them alike. So each commit holding such
-- events takes the book's advisory lock (pgstore.LockBook) after its
-- doors' locks, and numbers them from the highest book_n stored plus
-- one: book_n is the book's order, gap-free from 1, and commits that
-- hold the lock in turn make it visible in turn. A replica catches its
-- book up with the events of book_n beyond the last it applied, under
-- the lock before its own commit, and after each notification of
-- another's. Events stored before this migration have none: their book
-- is the kept state (events_book) every replica loads at start.
ALTER TABLE events ADD COLUMN book_n bigint CHECK (book_n > 0);
CREATE UNIQUE INDEX events_book_order ON events (book_n) WHERE book_n IS NOT NULL;
