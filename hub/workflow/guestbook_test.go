package workflow

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

var update = flag.Bool("update", false, "rewrite golden files")

func at(min, sec int) time.Time {
	return t0.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
}

func rec(id, guest, escort string) Record {
	return Record{ID: id, Guest: guest, NIK: "3302011234567890", Organisation: "PT Jaringan", Purpose: "replace switch",
		Category: permit.Network, Escort: escort, Approver: "kasi", Equipment: []string{"laptop", "switch"}}
}

// fullVisit is SOP steps 5-8 at the door for permit P-1 escorted by S-004.
func fullVisit() []wire.Event {
	return []wire.Event{
		{Type: wire.EvEscortAwaited, Permit: "P-1", Escort: "S-004", At: at(30, 0), Card: "c1"},
		{Type: wire.EvGranted, Permit: "P-1", Escort: "S-004", At: at(30, 10), Card: "c1"},
		{Type: wire.EvVisitEntered, Permit: "P-1", Escort: "S-004", At: at(30, 20), Card: "c1"},
		{Type: "rack.opened", Rack: "R1", At: at(35, 0)},
		{Type: "rack.closed", Rack: "R1", At: at(90, 0)},
		{Type: wire.EvExitRequested, At: at(95, 0), Card: "c1"},
		{Type: wire.EvVisitExited, Permit: "P-1", Escort: "S-004", At: at(95, 0), Card: "c1"},
		{Type: wire.EvSecured, At: at(96, 0)},
	}
}

func TestGuestBookRows(t *testing.T) {
	cases := []struct {
		name    string
		events  []wire.Event
		check   func(t *testing.T, rows []Row)
		nrows   int
		permits []Record
	}{
		{"full SOP visit", fullVisit(), func(t *testing.T, rows []Row) {
			r := rows[0]
			if r.Guest != "Andi" || r.NIK != "3302**********90" || r.Escort != "S-004" || r.Approver != "kasi" ||
				!r.Entered.Equal(at(30, 20)) || !r.Exited.Equal(at(95, 0)) || !r.Secured.Equal(at(96, 0)) ||
				r.NotSecured || len(r.Alarms) != 0 || r.Category != permit.Network || len(r.Equipment) != 2 {
				t.Fatalf("%+v", r)
			}
		}, 1, nil},
		{"unescorted visit", []wire.Event{
			{Type: wire.EvGranted, Permit: "P-1", Escort: "S-004", At: at(30, 0)},
			{Type: wire.EvVisitEntered, Permit: "P-1", Escort: "S-004", At: at(30, 5)},
			{Type: wire.EvUnescorted, Permit: "P-1", Escort: "S-004", At: at(40, 0)},
			{Type: wire.EvHeldOpen, At: at(41, 0)},
			{Type: wire.EvVisitExited, Permit: "P-1", At: at(50, 0)},
			{Type: wire.EvSecured, At: at(51, 0)},
		}, func(t *testing.T, rows []Row) {
			r := rows[0]
			if len(r.Alarms) != 2 || r.Alarms[0].Type != wire.EvUnescorted || r.Alarms[1].Type != wire.EvHeldOpen || !r.Secured.Equal(at(51, 0)) {
				t.Fatalf("%+v", r)
			}
		}, 1, nil},
		{"room not secured", []wire.Event{
			{Type: wire.EvVisitEntered, Permit: "P-1", Escort: "S-004", At: at(30, 0)},
			{Type: wire.EvVisitExited, Permit: "P-1", At: at(50, 0)},
			{Type: wire.EvNotSecured, At: at(52, 0), Detail: "rack R2 open"},
			{Type: wire.EvRackTampered, Rack: "R2", At: at(53, 0)},
		}, func(t *testing.T, rows []Row) {
			r := rows[0]
			if !r.NotSecured || !r.Secured.IsZero() || len(r.Alarms) != 2 || r.Alarms[0].Type != wire.EvNotSecured || r.Alarms[1].Rack != "R2" {
				t.Fatalf("%+v", r)
			}
		}, 1, nil},
		{"two guests, one still inside, unknown permit, staff alone", []wire.Event{
			{Type: wire.EvVisitEntered, Permit: "P-1", Escort: "S-004", At: at(30, 0)},
			{Type: wire.EvVisitEntered, Permit: "P-2", Escort: "S-004", At: at(31, 0)},
			{Type: wire.EvVisitEntered, Escort: "", At: at(31, 30)},
			{Type: wire.EvForced, At: at(32, 0)},
			{Type: wire.EvVisitExited, Permit: "P-1", At: at(40, 0)},
		}, func(t *testing.T, rows []Row) {
			if rows[0].Permit != "P-1" || rows[1].Permit != "P-2" || rows[1].Guest != "" || !rows[1].Exited.IsZero() ||
				len(rows[0].Alarms) != 1 || len(rows[1].Alarms) != 1 || !rows[0].Secured.IsZero() {
				t.Fatalf("%+v", rows)
			}
		}, 2, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rows := GuestBook([]Record{rec("P-1", "Andi", "S-004")}, Events(c.events))
			if len(rows) != c.nrows {
				t.Fatalf("%d rows, want %d: %+v", len(rows), c.nrows, rows)
			}
			c.check(t, rows)
		})
	}
}

func TestGuestBookCSVGolden(t *testing.T) {
	evs := fullVisit()
	evs = append(evs,
		wire.Event{Type: wire.EvVisitEntered, Permit: "P-2", Escort: "S-004", At: at(120, 0)},
		wire.Event{Type: wire.EvUnescorted, Permit: "P-2", Escort: "S-004", At: at(125, 0)},
		wire.Event{Type: wire.EvVisitExited, Permit: "P-2", At: at(130, 0)},
		wire.Event{Type: wire.EvNotSecured, At: at(132, 0), Detail: "rack R2 open"},
	)
	p2 := rec("P-2", "Rina, \"Teknisi\"", "S-004")
	p2.Category, p2.Equipment = permit.Server, nil
	rows := GuestBook([]Record{rec("P-1", "Andi", "S-004"), p2}, Events(evs))
	var buf bytes.Buffer
	if err := WriteCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "guestbook.csv")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("CSV:\n%s\nwant:\n%s", buf.Bytes(), want)
	}
}

// manyEvents returns n events of a busy door: visits of 10 events each.
func manyEvents(n int) ([]Record, []wire.Event) {
	var permits []Record
	evs := make([]wire.Event, 0, n)
	for v := 0; len(evs) < n; v++ {
		id := fmt.Sprintf("P-%06d", v%5000)
		if v < 5000 {
			permits = append(permits, rec(id, "Guest", "S-004"))
		}
		base := t0.Add(time.Duration(v) * 10 * time.Minute)
		card := fmt.Sprintf("c%d", v%5000)
		for _, e := range []wire.Event{
			{Type: wire.EvEscortAwaited, Permit: id, Escort: "S-004", Card: card},
			{Type: wire.EvGranted, Permit: id, Escort: "S-004", Card: card},
			{Type: "door.unlocked"},
			{Type: "door.opened"},
			{Type: wire.EvVisitEntered, Permit: id, Escort: "S-004", Card: card},
			{Type: "door.closed"},
			{Type: "door.locked"},
			{Type: wire.EvExitRequested, Card: card},
			{Type: wire.EvVisitExited, Permit: id, Escort: "S-004", Card: card},
			{Type: wire.EvSecured},
		} {
			e.Site, e.Door = "s1", "d1"
			e.At = base.Add(time.Duration(len(evs)%10) * 30 * time.Second)
			evs = append(evs, e)
		}
	}
	return permits, evs[:n]
}

func BenchmarkGuestBook1M(b *testing.B) {
	permits, evs := manyEvents(1_000_000)
	b.ResetTimer()
	for b.Loop() {
		rows := GuestBook(permits, Events(evs))
		if len(rows) != 100_000 {
			b.Fatalf("%d rows", len(rows))
		}
	}
}

func BenchmarkServiceTimes1M(b *testing.B) {
	permits, evs := manyEvents(1_000_000)
	b.ResetTimer()
	for b.Loop() {
		ServiceTimes(permits, Events(evs))
	}
}

// TestWriteCSVNeutralisesFormulas: a cell a spreadsheet would run as a
// formula is written as text (a leading apostrophe), every other as it is.
func TestWriteCSVNeutralisesFormulas(t *testing.T) {
	hostile := []string{`=HYPERLINK("http://evil.example","x")`, `=cmd|' /C calc'!A0`, "+SUM(1+1)", "@SUM(1)", "-2+3",
		"\tTab", "\rCR"}
	var rows []Row
	for i, h := range hostile {
		rows = append(rows, Row{Permit: fmt.Sprint("P-", i), Guest: h, Organisation: h, Purpose: "ok " + h, Equipment: []string{h}})
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hostile {
		rec := recs[i+1]
		for _, col := range []int{1, 3, 11} { // guest, organisation, equipment
			if rec[col] != "'"+h {
				t.Errorf("row %d column %s: %q; want %q", i, CSVHeader[col], rec[col], "'"+h)
			}
		}
		if rec[4] != "ok "+h || rec[0] != fmt.Sprint("P-", i) {
			t.Errorf("row %d: a harmless cell changed: %q, %q", i, rec[0], rec[4])
		}
	}
}
