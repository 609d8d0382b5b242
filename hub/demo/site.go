package demo

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/server"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/permit/keyfile"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// The demo's cards.
const (
	GuestUID  = "04A1B2C3D4E5F6"       // a 7-byte e-KTP UID, guest of permit P-0012
	EscortUID = "04E5F6A1B2C3D4"       // staff S-004, may escort
	SoloUID   = "0A0B0C0D"             // staff S-001, may enter alone
	OtherUID  = "08112233445566778899" // a 10-byte card nobody registered
)

// The demo's site and door.
const (
	site = "demo"
	door = "server-room"
)

// hubClientID is the dev hub's fixed client id: not the real hub's
// (ingest.DefaultClientID), so that a dev pointed at a site's broker with
// --broker does not take over that hub's session.
const hubClientID = "kunci-dev-hub-ingest"

// Site is kunci dev's data folder.
type Site struct {
	dir     string
	signer  *permit.Signer
	siteKey permit.SiteKey
	trusted []string // the hub's public key files
}

// Open opens the data folder dir, making on first use a hub key, a site
// key and the door's signed records of the demo (staff S-004 and S-001,
// permit P-0012).
func Open(dir string) (*Site, error) {
	keys, recs := filepath.Join(dir, "keys"), filepath.Join(dir, "records")
	if err := os.MkdirAll(recs, 0o700); err != nil {
		return nil, err
	}
	if privs, _ := keyfile.Find(keys); len(privs) == 0 {
		if _, err := keyfile.Generate(keys); err != nil {
			return nil, err
		}
	}
	privs, pubs := keyfile.Find(keys)
	signer, err := permit.LoadSigner(privs[0])
	if err != nil {
		return nil, err
	}
	sk, err := permit.LoadSiteKey(filepath.Join(keys, keyfile.SiteKeyName))
	if err != nil {
		return nil, err
	}
	if existing, _ := filepath.Glob(filepath.Join(recs, "*.json")); len(existing) == 0 {
		if err := writeRecords(recs, signer, sk, time.Now()); err != nil {
			return nil, err
		}
	}
	return &Site{dir: dir, signer: signer, siteKey: sk, trusted: pubs}, nil
}

// Door returns the config of the simulated door (site demo, door
// server-room, racks R1 and R2, sim readers entry and exit), its local
// API on addr, without MQTT.
func (s *Site) Door(addr string) (*config.Agent, error) {
	yes := true
	cfg := &config.Agent{Site: site, Door: door, Store: filepath.Join(s.dir, "agent.db"), Listen: addr,
		SiteKeyFile: filepath.Join(s.dir, "keys", keyfile.SiteKeyName), TrustedKeys: s.trusted,
		RecordsDir: filepath.Join(s.dir, "records"), RecordsPoll: wire.Duration(2 * time.Second), Clock: "trusted",
		Hardware: "sim", Readers: []config.Reader{{Name: "entry", Type: "sim"}, {Name: "exit", Type: "sim"}},
		Racks: []string{"R1", "R2"}, Rules: config.Rules{ExitUnlocks: &yes}}
	cfg.Defaults()
	return cfg, cfg.Validate()
}

// TokenFile is where the hub's admin token is kept.
func (s *Site) TokenFile() string { return filepath.Join(s.dir, "admin.token") }

// OpenHub opens the hub of the data folder on broker, for the door of cfg
// only, with the demo's staff and permit P-0012 on first use (Seed). It
// returns the admin token, kept in TokenFile.
func (s *Site) OpenHub(broker string, cfg *config.Agent, log *slog.Logger) (*server.Server, string, error) {
	h, err := server.Open(server.Setup{Store: filepath.Join(s.dir, "hub.db"),
		EventsStore: filepath.Join(s.dir, "hub-events.db"), Signer: s.signer,
		SiteKeys: map[string]permit.SiteKey{cfg.Site: s.siteKey}, Doors: []hub.DoorName{{Site: cfg.Site, Door: cfg.Door}},
		Prefix: cfg.MQTT.Prefix, Link: mqttlink.Options{Broker: broker, ClientID: hubClientID}, OnlyDoors: true,
		Office: []string{"PEMERINTAH KABUPATEN DEMO", "DINAS KOMUNIKASI DAN INFORMATIKA", "Bidang Infrastruktur TIK"}}, log)
	if err != nil {
		return nil, "", err
	}
	admin, err := adminToken(h.Tokens(), s.TokenFile())
	if err == nil {
		err = Seed(h.Hub(), time.Now())
	}
	if err != nil {
		h.Close()
		return nil, "", err
	}
	return h, admin, nil
}

// adminToken returns the admin token of file, issuing one (and writing
// the file) when there is none or it no longer works.
func adminToken(tokens *auth.Tokens, file string) (string, error) {
	if tok, err := auth.ReadTokenFile(file); err == nil {
		if p, err := tokens.Verify(tok); err == nil && p.CanSeeNIK() {
			return tok, nil
		}
	}
	tok, issued, err := tokens.EnsureAdmin("admin")
	if err != nil {
		return "", err
	}
	if !issued {
		if tok, _, err = tokens.Issue("admin", []auth.Role{auth.Admin}, time.Time{}); err != nil {
			return "", err
		}
	}
	if err := auth.WriteTokenFile(file, tok); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return tok, nil
}

// writeRecords signs the door's records of the demo into dir.
func writeRecords(dir string, s *permit.Signer, sk permit.SiteKey, now time.Time) error {
	fp := func(uid string) permit.Fingerprint { f, _ := sk.FingerprintText(uid); return f } // the UIDs above parse
	now = now.Truncate(time.Second)
	recs := []struct {
		file string
		kind permit.Kind
		rec  interface{ Validate() error }
	}{
		{"staff-S-004.json", permit.KindStaff, &permit.Staff{ID: "S-004", Version: 1, Site: site,
			Cards: []permit.Fingerprint{fp(EscortUID)}, Escort: true}},
		{"staff-S-001.json", permit.KindStaff, &permit.Staff{ID: "S-001", Version: 1, Site: site,
			Cards: []permit.Fingerprint{fp(SoloUID)}, Escort: true, Solo: true}},
		{"permit-P-0012.json", permit.KindPermit, &permit.Permit{ID: "P-0012", Version: 1, Site: site,
			Door: door, Card: fp(GuestUID), Escort: "S-004", Category: permit.Server,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour), ApprovedBy: approver,
			ApprovedAt: now}},
	}
	for _, r := range recs {
		doc, err := s.Sign(r.kind, r.rec)
		if err != nil {
			return err
		}
		if err := keyfile.WriteRecord(filepath.Join(dir, r.file), append(doc, '\n')); err != nil {
			return err
		}
	}
	return nil
}
