package hubtest

import (
	"bufio"
	"io"
	"iter"
	"strings"
)

// SSEEvent is one named event of a Server-Sent Events stream: its data
// lines joined, each ending in a newline.
type SSEEvent struct{ Name, Data string }

// SSEEvents reads the named events of the stream r until it ends (events
// without a name, and comments, are skipped).
func SSEEvents(r io.Reader) iter.Seq[SSEEvent] {
	return func(yield func(SSEEvent) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20) // a grid of many doors is one event
		var ev SSEEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Name != "" && !yield(ev) {
					return
				}
				ev = SSEEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.Data += line[len("data: "):] + "\n"
			}
		}
	}
}
