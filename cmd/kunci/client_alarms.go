package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/client/clitext"
	"github.com/kunci-project/kunci/internal/cli"
)

// cmdAlarms lists the hub's alarms, newest first.
func cmdAlarms(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := newClientFlags("alarms", stderr)
	var q client.AlarmQuery
	fs.BoolVar(&q.Open, "open", false, "only the alarms no one has acknowledged")
	door := fs.String("door", "", "one door's alarms (`site/door`)")
	kind := fs.String("kind", "", "one `kind` of alarm: door.forced, room.not_secured, door.offline, request.waiting, ...")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *door != "" {
		site, d, ok := strings.Cut(*door, "/")
		if !ok || site == "" || d == "" || strings.Contains(d, "/") {
			return fmt.Errorf("alarms: --door %q: want site/door, like demo/server-room", *door)
		}
		q.Site, q.Door = site, d
	}
	q.Kind = alarm.Kind(*kind)
	return answer(cf, stdout, func(c *client.Client) ([]api.AlarmRecord, error) { return c.Alarms(ctx, q) },
		func(w io.Writer, as []api.AlarmRecord) error { return clitext.Alarms(w, as, time.Now()) })
}

// cmdAlarm acts on one alarm: ack.
func cmdAlarm(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return kunci.Subverb(ctx, "alarm", args, stdout, stderr, map[string]cli.Verb{"ack": cmdAlarmAck}, "ack")
}

func cmdAlarmAck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := newClientFlags("alarm ack", stderr)
	note := fs.String("note", "", "what you saw or did (`text`), kept with your name")
	id, err := cli.ParseWithID(fs, args, "id", "alarm (A-000001, as kunci alarms lists it)")
	if err != nil {
		return err
	}
	if err := cli.Required(fs, "note"); err != nil {
		return err
	}
	return answer(cf, stdout, func(c *client.Client) (*api.AlarmRecord, error) { return c.AckAlarm(ctx, id, *note) },
		clitext.AlarmAcked)
}
