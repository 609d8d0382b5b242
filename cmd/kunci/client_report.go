package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/client/clitext"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/cli"
	"github.com/kunci-project/kunci/internal/timeflag"
)

// filter is the guest book's and the service-time report's choice of
// visits.
type filter struct {
	site, door *string
	from, to   *timeflag.Value
}

// addFilter adds --site, --door, --from and --to; what says what from
// and to select ("visits entered", "permits requested").
func addFilter(fs *flag.FlagSet, what string) *filter {
	return &filter{
		site: fs.String("site", "", "only this `site`"),
		door: fs.String("door", "", "only this `door`"),
		from: timeflag.Var(fs, "from", "only "+what+" from this time"),
		to:   timeflag.Var(fs, "to", "only "+what+" before this time (exclusive)"),
	}
}

// of is the choice as the hub takes it.
func (f *filter) of() workflow.Filter {
	return workflow.Filter{Site: *f.site, Door: *f.door, From: f.from.Time(), To: f.to.Time()}
}

// cmdGuestbook shows the guest book (Buku Tamu): a table, or the hub's CSV.
func cmdGuestbook(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := newClientFlags("guestbook", stderr)
	f := addFilter(fs, "visits entered")
	id := fs.String("permit", "", "only the visits of this permit (`id`)")
	asCSV := fs.Bool("csv", false, "print the hub's CSV (every field, for a spreadsheet)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *asCSV && cf.json {
		return errors.New("guestbook: --csv or --json, not both")
	}
	which := f.of()
	which.Permit = *id
	if *asCSV {
		c, err := cf.client()
		if err != nil {
			return err
		}
		return explain(c.GuestBookCSV(ctx, which, stdout))
	}
	return answer(cf, stdout, func(c *client.Client) ([]api.GuestRow, error) { return c.GuestBook(ctx, which) }, clitext.GuestBook)
}

// cmdSLA shows the service-time report: each permit's steps against the
// SOP's standard times, then the aggregate.
func cmdSLA(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := newClientFlags("sla", stderr)
	f := addFilter(fs, "permits requested")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	return answer(cf, stdout, func(c *client.Client) (*api.SLAReport, error) { return c.SLA(ctx, f.of()) }, clitext.SLA)
}

// cmdWatch follows the hub's updates, a line each, until ctx ends.
func cmdWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := newClientFlags("watch", stderr)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	st, err := c.Watch(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped by the user
		}
		return explain(err)
	}
	defer st.Close()
	for st.Next() {
		if cf.json {
			if err := clitext.Raw(stdout, st.Raw()); err != nil {
				return err
			}
			continue
		}
		u, err := st.Update()
		if err != nil {
			fmt.Fprintf(stderr, "kunci %v\n", err)
			continue
		}
		if u.Kind == "beat" {
			continue
		}
		if _, err := fmt.Fprintln(stdout, clitext.UpdateLine(&u, time.Now())); err != nil {
			return err
		}
	}
	return st.Err()
}
