package pgkv

// Pages of a cursor: the first read of a walk is small (a Seek that
// reads a key or two), the next ones larger, up to maxPage rows.
const (
	minPage = 16
	maxPage = 1024
)

type row struct{ k, v []byte }

// cursor walks a bucket in pages. Its position is a key (on it, or in the
// gap just before it: the place of a Seek), or the gap after every key
// (key nil); buf holds the rows read beyond the position in the
// direction dir (+1 forward, -1 backward), done that none is left beyond
// them.
type cursor struct {
	b    *bucket
	key  []byte
	on   bool
	dir  int
	buf  []row
	done bool
	page int
}

// start is the gap before every key: keys are at least one byte.
var start = []byte{}

func (c *cursor) First() ([]byte, []byte) { return c.Seek(start) }

func (c *cursor) Last() ([]byte, []byte) {
	c.key, c.on = nil, false
	c.turn(0)
	return c.Prev()
}

func (c *cursor) Seek(seek []byte) ([]byte, []byte) {
	c.key, c.on = append([]byte{}, seek...), false
	c.turn(0)
	return c.Next()
}

func (c *cursor) Next() ([]byte, []byte) {
	c.turn(+1)
	r, ok := c.step()
	if !ok {
		c.key, c.on = nil, false // the gap after every key
		return nil, nil
	}
	return r.k, r.v
}

func (c *cursor) Prev() ([]byte, []byte) {
	c.turn(-1)
	r, ok := c.step()
	if !ok {
		c.key, c.on = start, false // the gap before every key
		return nil, nil
	}
	return r.k, r.v
}

// turn drops what was read in another direction than dir.
func (c *cursor) turn(dir int) {
	if c.dir != dir {
		c.dir, c.buf, c.done, c.page = dir, nil, false, 0
	}
}

// step moves one row in c.dir, reading the next page if need be.
func (c *cursor) step() (row, bool) {
	if len(c.buf) == 0 && !c.done {
		c.read()
	}
	if len(c.buf) == 0 {
		return row{}, false
	}
	r := c.buf[0]
	c.buf = c.buf[1:]
	c.key, c.on = r.k, true
	return r, true
}

// read reads the page beyond the position in c.dir into c.buf.
func (c *cursor) read() {
	t := c.b.t
	if t.err != nil {
		c.done = true
		return
	}
	c.page = min(max(2*c.page, minPage), maxPage)
	var sql string
	args := []any{c.b.name, c.page}
	switch {
	case c.dir > 0 && c.key == nil:
		c.done = true // past the last key
		return
	case c.dir > 0 && c.on:
		sql = "SELECT key, value FROM kv WHERE bucket = $1 AND key > $3 ORDER BY key LIMIT $2"
		args = append(args, c.key)
	case c.dir > 0:
		sql = "SELECT key, value FROM kv WHERE bucket = $1 AND key >= $3 ORDER BY key LIMIT $2"
		args = append(args, c.key)
	case c.key == nil:
		sql = "SELECT key, value FROM kv WHERE bucket = $1 ORDER BY key DESC LIMIT $2"
	default:
		sql = "SELECT key, value FROM kv WHERE bucket = $1 AND key < $3 ORDER BY key DESC LIMIT $2"
		args = append(args, c.key)
	}
	rows, err := t.tx.Query(t.ctx, sql, args...)
	if err != nil {
		t.fail("cursor", err)
		c.done = true
		return
	}
	defer rows.Close()
	c.buf = c.buf[:0]
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.k, &r.v); err != nil {
			t.fail("cursor", err)
			break
		}
		if r.v == nil {
			r.v = []byte{}
		}
		c.buf = append(c.buf, r)
	}
	if err := rows.Err(); err != nil {
		t.fail("cursor", err)
	}
	if t.err != nil {
		c.buf, c.done = nil, true
		return
	}
	c.done = len(c.buf) < c.page
}
