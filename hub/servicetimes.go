package hub

import (
	"github.com/kunci-project/kunci/hub/workflow"
)

// ServiceTimes times the SOP steps of the permits f selects (by door and
// permit, requested in [f.From, f.To)), from their histories and their
// doors' events, as the guest book keeps them (workflow.Book.ServiceTimes:
// no event is read again). The API's report and the console's Waktu
// Layanan both come from it.
func (h *Hub) ServiceTimes(f workflow.Filter) []workflow.ServiceTime {
	return h.book.ServiceTimes(f)
}
