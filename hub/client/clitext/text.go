package clitext

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/kunci-project/kunci/permit"
)

// Table writes aligned columns, a row at a time; Flush writes them out.
type Table struct{ tw *tabwriter.Writer }

// NewTable returns a table on w whose first row is header.
func NewTable(w io.Writer, header ...string) *Table {
	t := &Table{tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.Row(header...)
	return t
}

// Row adds a row; an empty cell is shown "-", so that columns stay
// columns, and a cell's control and invisible characters escaped
// (permit.Visible), so that a record's text can neither drive the
// terminal nor add a row or a column. It writes into cells.
func (t *Table) Row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			c = "-"
		}
		cells[i] = permit.Visible(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

// Flush writes the table out.
func (t *Table) Flush() error { return t.tw.Flush() }

// Clock shows a time in the local zone, to the second; zero is "-".
func Clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// Span shows a duration to the second, without a trailing 0s (4m30s, 2m, 45s).
func Span(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// printLine writes one line of format and a, a record's text among them,
// with every control and invisible character escaped (permit.Visible):
// the line's own end is the one newline written.
func printLine(w io.Writer, format string, a ...any) error {
	_, err := fmt.Fprintln(w, permit.Visible(strings.TrimSuffix(fmt.Sprintf(format, a...), "\n")))
	return err
}

// Raw prints the hub's answer as it came (for --json), ending in a
// newline; an empty answer prints nothing. The characters that JSON
// leaves as they are but a terminal obeys or hides (bidi overrides,
// C1 controls, zero-width ones; permit.Hidden) are written as JSON's
// \u escapes, which read back as the same JSON.
func Raw(w io.Writer, raw []byte) error {
	if len(raw) == 0 {
		return nil
	}
	raw = jsonVisible(raw)
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if raw[len(raw)-1] != '\n' {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}

// clip shortens s to n runes for a table; the CSV and the JSON have it whole.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// jsonVisible writes each permit.Hidden character of JSON text raw as a
// \u escape but the white space JSON allows between its values (space,
// tab, CR, newline), which it never holds inside a string.
func jsonVisible(raw []byte) []byte {
	hidden := func(r rune) bool { return r != '\n' && r != '\t' && r != '\r' && permit.Hidden(r) }
	if bytes.IndexFunc(raw, hidden) < 0 {
		return raw
	}
	var b bytes.Buffer
	for len(raw) > 0 {
		r, n := utf8.DecodeRune(raw)
		switch {
		case hidden(r) && r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		case hidden(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.Write(raw[:n])
		}
		raw = raw[n:]
	}
	return b.Bytes()
}
