package hub

import (
	"io"
	"slices"

	"github.com/kunci-project/kunci/hub/workflow"
)

// GuestRows returns the guest book's rows f selects, newest first, from
// offset on and at most limit of them (limit < 0: all, in order of
// entry), and how many f selects in all. The book keeps NIKs masked;
// with clearNIK (an admin's view) each row gets its permit's NIK in clear.
// The API and the console both read the book through it, so that the
// masking is decided in one place.
func (h *Hub) GuestRows(f workflow.Filter, offset, limit int, clearNIK bool) ([]workflow.Row, int) {
	var rows []workflow.Row
	var total int
	if limit < 0 {
		rows = h.book.Query(f)
		total = len(rows)
	} else {
		rows, total = h.book.Page(f, offset, limit)
	}
	return h.withNIK(rows, clearNIK), total
}

// GuestRowsAfter returns the rows f selects, in order of entry, after row
// after (-1: from the first), at most limit, and the row to ask the next
// page after (-1 at the end); NIKs as GuestRows gives them.
func (h *Hub) GuestRowsAfter(f workflow.Filter, after, limit int, clearNIK bool) ([]workflow.Row, int) {
	rows, next := h.book.After(f, after, limit)
	return h.withNIK(rows, clearNIK), next
}

// GuestPage is how many rows EachGuestRows takes at a time, each page
// under the book's lock for a moment only.
const GuestPage = 1_000

// EachGuestRows calls fn with the rows f selects, in order of entry, a
// page of GuestPage at a time (NIKs as GuestRows gives them), until the
// last or fn's error: the CSV export, which streams every row however
// many there are. A visit entered during the export is in it if the
// export had not yet passed its place.
func (h *Hub) EachGuestRows(f workflow.Filter, clearNIK bool, fn func([]workflow.Row) error) error {
	for after := -1; ; {
		rows, next := h.GuestRowsAfter(f, after, GuestPage, clearNIK)
		if len(rows) > 0 {
			if err := fn(rows); err != nil {
				return err
			}
		}
		if next < 0 {
			return nil
		}
		after = next
	}
}

// WriteGuestCSV writes the rows f selects to w as CSV (workflow.CSV),
// streamed a page at a time (EachGuestRows).
func (h *Hub) WriteGuestCSV(w io.Writer, f workflow.Filter, clearNIK bool) error {
	c, err := workflow.NewCSV(w)
	if err != nil {
		return err
	}
	if err := h.EachGuestRows(f, clearNIK, c.Write); err != nil {
		return err
	}
	return c.Flush()
}

// withNIK returns rows, with their permit's NIK in clear if clearNIK.
func (h *Hub) withNIK(rows []workflow.Row, clearNIK bool) []workflow.Row {
	if !clearNIK {
		return rows
	}
	rows = slices.Clone(rows)
	niks := map[string]string{}
	for i := range rows {
		id := rows[i].Permit
		nik, ok := niks[id]
		if !ok {
			nik = rows[i].NIK
			if rec, err := h.wf.Get(id); err == nil {
				nik = rec.NIK
			}
			niks[id] = nik
		}
		rows[i].NIK = nik
	}
	return rows
}
