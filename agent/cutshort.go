package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// cutShort reports whether b is empty or a JSON text that ends before it
// is complete, as a file does while cp or scp still writes it. A file
// broken anywhere else is complete, and wrong.
func cutShort(b []byte) bool {
	err := json.NewDecoder(bytes.NewReader(b)).Decode(new(json.RawMessage))
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
