package demo_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/hub/demo"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/permit"
)

// The data folder is made on first use and kept after: the same key, the
// same records, the same admin token; the door trusts the records and
// knows the demo's cards by their fingerprints.
func TestSite(t *testing.T) {
	dir := t.TempDir()
	s, err := demo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Door("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Site != "demo" || cfg.Door != "server-room" || !slices.Equal(cfg.Racks, []string{"R1", "R2"}) ||
		cfg.Hardware != "sim" || cfg.MQTT.Broker != "" {
		t.Errorf("Door = %+v; want the simulated demo/server-room with racks R1 and R2, no MQTT", cfg)
	}
	ring, err := permit.LoadKeyring(cfg.TrustedKeys...)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := permit.LoadSiteKey(cfg.SiteKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	fp := func(uid string) permit.Fingerprint { f, _ := sk.FingerprintText(uid); return f }
	records := map[string][]byte{}
	for _, name := range []string{"staff-S-004.json", "staff-S-001.json", "permit-P-0012.json"} {
		b, err := os.ReadFile(filepath.Join(cfg.RecordsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		records[name] = b
		r, err := ring.Decode(b)
		switch {
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case r.Permit != nil && (r.Permit.Card != fp(demo.GuestUID) || r.Permit.Escort != "S-004"):
			t.Errorf("%s: %+v; want the guest's card, escort S-004", name, r.Permit)
		case r.Staff != nil && !slices.Contains([]permit.Fingerprint{fp(demo.EscortUID), fp(demo.SoloUID)}, r.Staff.Cards[0]):
			t.Errorf("%s: %+v; want the escort's or the solo card", name, r.Staff)
		}
	}

	h, admin, err := s.OpenHub("tcp://127.0.0.1:1", cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := h.Hub().Workflow().List()
	if err != nil || len(recs) != 1 || recs[0].ID != "P-0012" || recs[0].State != workflow.Issued {
		t.Errorf("the hub holds %+v, %v; want P-0012, issued", recs, err)
	}
	if staff, err := h.Hub().Workflow().ListStaff(); err != nil || len(staff) != 2 {
		t.Errorf("the hub's staff: %+v, %v; want S-004 and S-001", staff, err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	checkStores(t, dir)

	// again: nothing made anew, nothing seeded twice
	s, err = demo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range records {
		if now, _ := os.ReadFile(filepath.Join(cfg.RecordsDir, name)); string(now) != string(b) {
			t.Errorf("a second Open rewrote %s", name)
		}
	}
	h, admin2, err := s.OpenHub("tcp://127.0.0.1:1", cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer checkStores(t, dir)
	defer h.Close()
	if admin2 != admin {
		t.Error("a second OpenHub gave another admin token")
	}
	if recs, _ := h.Hub().Workflow().List(); len(recs) != 1 {
		t.Errorf("after a second OpenHub the hub holds %d permits; want 1", len(recs))
	}
}

// checkStores checks the integrity of the hub's closed stores in dir.
func checkStores(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{"hub.db", "hub-events.db"} {
		db, err := bolt.Open(filepath.Join(dir, name), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := errors.Join(boltcheck.Check(db), db.Close()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
