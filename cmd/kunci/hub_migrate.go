package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/ingest/pgevents"
	"github.com/kunci-project/kunci/hub/kv/pgkv"
	"github.com/kunci-project/kunci/hub/migrate"
	"github.com/kunci-project/kunci/hub/pgstore"
	"github.com/kunci-project/kunci/hub/server"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/cli"
)

// migrateTimeout bounds each step of a migration: the workflow's copy is
// one transaction.
const migrateTimeout = 30 * time.Minute

// cmdHubMigrate copies a stopped hub's bbolt stores into PostgreSQL: the
// workflow (hub.db: permits, staff, users, tokens, alarms, the
// notification queue, the command log) and the doors' events
// (hub-events.db), and checks the counts.
func cmdHubMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("hub migrate", stderr)
	from := fs.String("from", "/var/lib/kunci", "the `directory` of the hub's hub.db and hub-events.db (the hub stopped)")
	to := fs.String("to", "", "the PostgreSQL database, postgres://user@host:5432/db (no password: --to-dsn-file)")
	toFile := fs.String("to-dsn-file", "", "a `file` holding the database's DSN with its password (mode 0600)")
	keysFile := fs.String("keys", "", "the keys `file` of the guests' personal data (default DIR/hub.db.keys: hub.yaml's store_keys_file)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	dsn := *to
	switch {
	case *toFile != "" && dsn != "":
		return errors.New("--to and --to-dsn-file: give one")
	case *toFile != "":
		var err error
		if dsn, err = pgstore.ReadDSNFile(*toFile); err != nil {
			return fmt.Errorf("--to-dsn-file: %w", err)
		}
	case dsn == "":
		return errors.New("--to is required: the PostgreSQL database to migrate to")
	case !pgstore.IsDSN(dsn) || !pgstore.ValidDSN(dsn):
		return fmt.Errorf("--to %q: want a PostgreSQL DSN, postgres://user@host:5432/db", pgstore.Redact(dsn))
	case pgstore.HasPassword(dsn):
		return errors.New("--to holds a password, which the shell's history keeps: put the DSN in a file of mode 0600 and give --to-dsn-file")
	}
	storePath := filepath.Join(*from, "hub.db")
	eventsPath := filepath.Join(*from, "hub-events.db")
	if *keysFile == "" {
		*keysFile = storePath + workflow.KeysSuffix
	}
	if _, err := os.Stat(*keysFile); err != nil {
		return fmt.Errorf("the keys file of the guests' personal data: %w: the records are sealed with it; give --keys FILE (hub.yaml's store_keys_file)", err)
	}
	src, err := bolt.Open(storePath, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("%s is in use: stop the hub first (systemctl stop kunci-hub)", storePath)
	case err != nil:
		return fmt.Errorf("the hub's workflow store: %w", err)
	}
	defer src.Close()
	if _, err := os.Stat(eventsPath); err != nil {
		return fmt.Errorf("the hub's event store: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()

	db, err := pgkv.Open(cctx, dsn, pgkv.Options{Timeout: migrateTimeout})
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(stdout, "migrating %s to %s\n", *from, pgstore.Redact(dsn))
	// the keys first: bringing them in again is harmless, and the
	// workflow's copy is refused once done
	nk, err := server.ImportKeys(*keysFile, db.Keys())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  keys: %d keys of the guests' personal data in the database\n", nk)
	im, err := db.Import(cctx, src)
	if errors.Is(err, pgkv.ErrNotEmpty) {
		return fmt.Errorf("%s holds a hub's workflow already: migrate into an empty database (%w)", pgstore.Redact(dsn), err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  workflow: %d keys in %d buckets copied and counted\n", im.Total(), len(im.Keys))

	evFrom, err := ingest.OpenStore(eventsPath)
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return fmt.Errorf("%s is in use: stop the hub first (systemctl stop kunci-hub)", eventsPath)
		}
		return fmt.Errorf("the hub's event store: %w", err)
	}
	defer evFrom.Close()
	evTo, err := pgevents.Open(cctx, dsn, pgevents.Options{Timeout: migrateTimeout})
	if err != nil {
		return err
	}
	defer evTo.Close()
	c, err := migrate.Events(evFrom, evTo, func(door string, copied uint64) {
		fmt.Fprintf(stdout, "  events: %s done, %d copied so far\n", door, copied)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  events: %d of %d doors, in %d epochs, with %d lost runs: %d copied now, %d in the database\n",
		c.Events, c.Doors, c.Epochs, c.LostRuns, c.Copied, c.TargetEventsNow)
	fmt.Fprintf(stdout, "Done. In hub.yaml set store: and events_store: to the database (or store_dsn_file: and\n"+
		"events_store_dsn_file:); the keys of the guests' personal data are in the database too. Keep %s\n"+
		"as it is until the hub runs on PostgreSQL, then remove it: its keys file keeps the keys of the\n"+
		"requests the hub purges from now on.\n", *from)
	return nil
}
