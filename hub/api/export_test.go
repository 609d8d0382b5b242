package api

// HoldEventReads takes every slot of a's event reads, as that many slow
// reads would, and returns the function that gives them back.
func HoldEventReads(a *API) (release func()) {
	for range cap(a.eventReads) {
		a.eventReads <- struct{}{}
	}
	return func() {
		for range cap(a.eventReads) {
			<-a.eventReads
		}
	}
}
