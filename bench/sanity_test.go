package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

const sanityN = 100

func TestGeneratedStore(t *testing.T) {
	dir := t.TempDir()
	path, err := cachedStore(dir, sanityN, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkBolt(t, path) })
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := cachedStore(dir, sanityN, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fi2, err := os.Stat(again); err != nil || again != path || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("second cachedStore = %s (%v), want the cached %s untouched", again, err, path)
	}

	st, err := agent.OpenStore(path, site, door)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	permits, staff, err := st.Counts()
	if err != nil || permits != sanityN || staff != escorts {
		t.Fatalf("Counts() = %d, %d, %v; want %d, %d", permits, staff, err, sanityN, escorts)
	}
	for _, i := range []int{0, 1, sanityN - 1} {
		info, err := st.Card(siteKey.Fingerprint(guestUID(i)))
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Permits) != 1 || info.Staff != nil {
			t.Fatalf("Card(guest %d) = %d permits, staff %v; want one permit", i, len(info.Permits), info.Staff)
		}
		p := info.Permits[0]
		if p.ID != permitID(i) || p.Escort != staffID(escortOf(i)) || p.Revoked || p.Used != 0 {
			t.Errorf("Card(guest %d) = %s escort %s revoked %v used %d; want %s escort %s, unused",
				i, p.ID, p.Escort, p.Revoked, p.Used, permitID(i), staffID(escortOf(i)))
		}
		if !p.NotBefore.Before(benchNow) || !benchNow.Before(p.NotAfter) {
			t.Errorf("permit %s: window %s..%s does not hold %s", p.ID, p.NotBefore, p.NotAfter, benchNow)
		}
	}
	info, err := st.Card(siteKey.Fingerprint(staffUID(escorts)))
	if err != nil || info.Staff == nil || info.Staff.ID != staffID(escorts) || !info.Staff.Escort {
		t.Errorf("Card(staff %d) = %+v, %v; want escort %s", escorts, info.Staff, err, staffID(escorts))
	}
}

// TestSignedPermitMatches shows that building a permit record directly,
// as genStore does for speed, stores what signing and decoding would.
func TestSignedPermitMatches(t *testing.T) {
	for _, i := range []int{0, 1, 999_999} {
		p := guestPermit(i)
		rec, err := signedRecord(permit.KindPermit, &p)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(rec.Permit)
		want, _ := json.Marshal(&p)
		if !bytes.Equal(got, want) {
			t.Errorf("permit %d signed and decoded:\n%s\nbuilt directly:\n%s", i, got, want)
		}
	}
}

// sanityStore returns a working copy of a store of sanityN permits
// generated in a temporary directory, not bench/cache.
func sanityStore(t *testing.T) string {
	t.Helper()
	src, err := cachedStore(t.TempDir(), sanityN, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	work, err := workCopy(src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return work
}

// TestVisitUnlocks runs the benchmark's visit on a generated store: the
// escort's tap unlocks, and the room ends empty and locked.
func TestVisitUnlocks(t *testing.T) {
	work := sanityStore(t)
	t.Cleanup(func() { checkBolt(t, work) })
	ctx := t.Context()
	rd := runDoor(t, work)
	visits := []int{3, 42, sanityN - 1, 3}
	for _, i := range visits {
		lat, err := rd.visit(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if lat <= 0 {
			t.Errorf("visit %d: latency %v", i, lat)
		}
	}
	// entry and exit move the relay once each per visit
	if rd.relay.unlockCount() != 2*len(visits) {
		t.Errorf("relay unlocked %d times, want %d", rd.relay.unlockCount(), 2*len(visits))
	}

	evs, err := rd.store.Events(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	grants := 0
	for _, e := range evs {
		if e.Type == wire.EvGranted {
			grants++
		}
	}
	if grants != len(visits) {
		t.Errorf("%d access.granted events, want %d", grants, len(visits))
	}
}

// TestBareEventSize checks that the baseline writes an event as large as
// the door.unlocked event the door stores for a grant.
func TestBareEventSize(t *testing.T) {
	ctx := t.Context()
	rd := runDoor(t, sanityStore(t))
	if _, err := rd.visit(ctx, 7); err != nil {
		t.Fatal(err)
	}
	evs, err := rd.store.Events(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type != wire.EvUnlocked || e.Detail != "permit "+permitID(7) {
			continue
		}
		stored, _ := json.Marshal(e)
		bare, _ := json.Marshal(unlockedEvent(e.Seq, newBenchClock()))
		// the time's and mono_ns's digits vary by a few bytes
		if d := len(bare) - len(stored); d < -8 || d > 8 {
			t.Errorf("bare event is %d bytes, the door's door.unlocked %d:\n%s\n%s", len(bare), len(stored), bare, stored)
		}
		return
	}
	t.Fatalf("no door.unlocked event for permit %s in %d events", permitID(7), len(evs))
}
