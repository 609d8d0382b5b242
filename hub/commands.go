package hub

import (
	"encoding/json"
	"fmt"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/permit"
)

// bCommands is the log of the commands the hub sent to doors, in the
// workflow's store: issue time and id -> the command as signed (who sent
// it and why). The doors' own events say when they obeyed.
var bCommands = []byte("commands")

// maxCommandLog bounds the log: the oldest commands go beyond it.
const maxCommandLog = 10_000

func (h *Hub) logCommand(c permit.Command) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return h.wf.KV().Update(func(tx kv.Tx) error {
		b := tx.Bucket(bCommands)
		if err := b.Put([]byte(c.Issued.UTC().Format("20060102T150405.000000000Z")+" "+c.ID), raw); err != nil {
			return err
		}
		for n := b.Len(); n > maxCommandLog; n-- {
			k, _ := b.Cursor().First()
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// Commands returns the last commands sent to door site/door, newest
// first, at most limit of them.
func (h *Hub) Commands(site, door string, limit int) ([]permit.Command, error) {
	var out []permit.Command
	err := h.wf.KV().View(func(tx kv.Tx) error {
		c := tx.Bucket(bCommands).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var cmd permit.Command
			if err := json.Unmarshal(v, &cmd); err != nil {
				return fmt.Errorf("hub: command log %q: %w", k, err)
			}
			if cmd.Site == site && cmd.Door == door {
				out = append(out, cmd)
			}
		}
		return nil
	})
	return out, err
}
