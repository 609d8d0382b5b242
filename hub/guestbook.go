package hub

import (
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
	if !clearNIK {
		return rows, total
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
	return rows, total
}
