package bench

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/permit"
)

// formatVersion names the layout of generated stores. Raise it whenever
// genStore writes something else, so that stale caches are not reused.
const formatVersion = 3

const (
	site = "demo"
	door = "server-room"

	escorts   = 100   // staff S-0001..S-0100, all with the escort right
	batchSize = 1_000 // records per ApplyAll transaction: permits arrive a few at a time
)

// benchNow is the middle of every generated permit's window and the time
// the benchmark clock starts at. It is fixed, not time.Now, so that a cached
// store stays valid however old it gets.
var benchNow = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// The site key and hub key are derived from fixed seeds: the fingerprints in
// a cached store must match the ones a later run computes.
var (
	siteKey = func() permit.SiteKey {
		h := sha256.Sum256([]byte("kunci bench site key"))
		return permit.SiteKey(h[:])
	}()
	hubKey = func() ed25519.PrivateKey {
		h := sha256.Sum256([]byte("kunci bench hub key"))
		return ed25519.NewKeyFromSeed(h[:])
	}()
)

func keyring() permit.Keyring {
	r := permit.Keyring{}
	r.Add(hubKey.Public().(ed25519.PublicKey))
	return r
}

// guestUID returns the 7-byte UID of permit i's card: the NXP
// manufacturer byte, 'G', and i in five bytes.
func guestUID(i int) []byte { return uid('G', i) }

// staffUID returns the 7-byte UID of the card of staff member n: the NXP
// manufacturer byte, 'S', and n in five bytes.
func staffUID(n int) []byte { return uid('S', n) }

func uid(kind byte, i int) []byte {
	var u [8]byte
	binary.BigEndian.PutUint64(u[:], uint64(i))
	u[1], u[2] = 0x04, kind
	return u[1:]
}

func permitID(i int) string { return fmt.Sprintf("P-%07d", i) }
func staffID(n int) string  { return fmt.Sprintf("S-%04d", n) }
func escortOf(i int) int    { return i%escorts + 1 }
func categoryOf(i int) permit.Category {
	if i%2 == 0 {
		return permit.Network
	}
	return permit.Server
}

// guestPermit returns permit i: one guest card, escort S-0001..S-0100 in
// turn, valid for a year either side of benchNow, any number of entries.
func guestPermit(i int) permit.Permit {
	return permit.Permit{
		ID: permitID(i), Version: 1, Site: site, Door: door,
		Card:      siteKey.Fingerprint(guestUID(i)),
		Escort:    staffID(escortOf(i)),
		Category:  categoryOf(i),
		NotBefore: benchNow.AddDate(-1, 0, 0), NotAfter: benchNow.AddDate(1, 0, 0),
		ApprovedBy: "M-0001", ApprovedAt: benchNow.AddDate(-1, 0, -2),
	}
}

func staffRecord(n int) permit.Staff {
	return permit.Staff{ID: staffID(n), Version: 1, Site: site,
		Cards: []permit.Fingerprint{siteKey.Fingerprint(staffUID(n))}, Escort: true}
}

// signedRecord signs v with the bench hub key and decodes it with the
// agent's keyring: the path every record takes from the hub to a store.
func signedRecord(kind permit.Kind, v interface{ Validate() error }) (permit.Record, error) {
	doc, err := permit.NewSigner(hubKey).Sign(kind, v)
	if err != nil {
		return permit.Record{}, err
	}
	return keyring().Decode(doc)
}

// cachedStore returns the path of a store with n permits in dir, making it
// the first time. The file is written under a temporary name and renamed
// when complete, so an interrupted generation leaves nothing to reuse.
func cachedStore(dir string, n int, log io.Writer) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("permits-%d-v%d.db", n, formatVersion))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	f.Close()
	os.Remove(tmp) // bbolt creates it
	start := time.Now()
	if err := genStore(tmp, n); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("generate %d permits: %w", n, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	if fi, err := os.Stat(path); err == nil {
		fmt.Fprintf(log, "bench: generated %s (%d permits, %d MiB) in %s\n",
			path, n, fi.Size()>>20, time.Since(start).Round(100*time.Millisecond))
	}
	return path, nil
}

// genStore writes a store with n guest permits and the escorts' staff
// records. Staff records go through signing and decoding; permits are
// built directly after Validate, which gives the same record (see
// TestSignedPermitMatches) without a million signatures to verify.
func genStore(path string, n int) error {
	st, err := agent.OpenStore(path, site, door)
	if err != nil {
		return err
	}
	defer st.Close()
	staff := make([]permit.Record, 0, escorts)
	for s := 1; s <= escorts; s++ {
		sr := staffRecord(s)
		rec, err := signedRecord(permit.KindStaff, &sr)
		if err != nil {
			return err
		}
		staff = append(staff, rec)
	}
	if err := applyAll(st, staff); err != nil {
		return err
	}
	recs := make([]permit.Record, 0, batchSize)
	for i := 0; i < n; i++ {
		p := guestPermit(i)
		if err := p.Validate(); err != nil {
			return err
		}
		recs = append(recs, permit.Record{Permit: &p})
		if len(recs) == batchSize || i == n-1 {
			if err := applyAll(st, recs); err != nil {
				return err
			}
			recs = recs[:0]
		}
	}
	permits, staffN, err := st.Counts()
	if err != nil {
		return err
	}
	if permits != n || staffN != escorts {
		return fmt.Errorf("store holds %d permits and %d staff, want %d and %d", permits, staffN, n, escorts)
	}
	return st.Close()
}

func applyAll(st *agent.Store, recs []permit.Record) error {
	applied, refused, err := st.ApplyAll(recs)
	if err != nil {
		return err
	}
	if applied != len(recs) || refused != 0 {
		return fmt.Errorf("applied %d of %d records, refused %d", applied, len(recs), refused)
	}
	return nil
}

// workCopy copies the cached store at src into a new file in dir, so that
// a run never changes the cache. dir should sit on the cache's file system:
// the bare-update baseline is written there too, so both pay for the same
// disk.
func workCopy(src, dir string) (string, error) {
	out, err := os.CreateTemp(dir, "store-*.db")
	if err != nil {
		return "", err
	}
	out.Close()
	return out.Name(), copyFile(src, out.Name())
}

// cacheDir is where generated stores are kept: bench/cache, git-ignored,
// unless KUNCI_BENCH_CACHE names another directory.
func cacheDir() string {
	if d := os.Getenv("KUNCI_BENCH_CACHE"); d != "" {
		return d
	}
	return "cache"
}

// runDir returns a fresh directory next to the cache for one benchmark's
// working files; TestMain removes it when the binary ends.
func runDir(tb testing.TB) string {
	tb.Helper()
	if err := os.MkdirAll(cacheDir(), 0o755); err != nil {
		tb.Fatal(err)
	}
	d, err := os.MkdirTemp(cacheDir(), "run-")
	if err != nil {
		tb.Fatal(err)
	}
	runDirsMu.Lock()
	runDirs = append(runDirs, d)
	runDirsMu.Unlock()
	return d
}

var (
	copiesMu sync.Mutex
	copies   = map[int]string{}
)

// storeCopy returns this process's working copy of the cached store with
// n permits, making it on first use. Benchmarks of one process share it,
// repetitions of -count included: a copy of a million permits is a GiB to
// write, and those writes, or the discard of a deleted copy, would land in
// the numbers of whatever runs next. The events they append change nothing
// measurable.
func storeCopy(tb testing.TB, n int) string {
	tb.Helper()
	copiesMu.Lock()
	defer copiesMu.Unlock()
	if p, ok := copies[n]; ok {
		return p
	}
	p := ownCopy(tb, n)
	copies[n] = p
	return p
}

// ownCopy returns a new working copy of the cached store with n permits,
// for tb alone. A door wired to a hub needs one: the door's log and the
// hub's store are a pair, and a fresh hub holds every event of a door
// whose earlier seqs it never saw, waiting for the gap to fill, so a
// store shared with an earlier run (storeCopy's) would drain nothing. Use
// it for small stores: the copy is written before anything is timed.
func ownCopy(tb testing.TB, n int) string {
	tb.Helper()
	src, err := cachedStore(cacheDir(), n, os.Stderr)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := workCopy(src, runDir(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
