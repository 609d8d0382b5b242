package bench

import (
	"fmt"
	"testing"

	"github.com/kunci-project/kunci/internal/pgtest"
)

// BenchmarkReplicaIngest is BenchmarkHubIngest for the hub replicas of
// issue 11: HUB_DOORS (100) doors publish HUB_EVENTS (1,000) events each
// at once through a fresh Mosquitto, taken by 1, 2 and 3 ingests on
// Mosquitto's shared subscription, each with a store of its own on one
// PostgreSQL database (a new one each iteration, commits durable), against
// the subscriber that only counts the same messages (subscriber). ev/s is
// until every door had its final ack.
func BenchmarkReplicaIngest(b *testing.B) {
	g, pls := ingestPayloads(b)
	for _, replicas := range []int{0, 1, 2, 3} {
		name := "subscriber"
		if replicas > 0 {
			name = fmt.Sprintf("replicas=%d", replicas)
		}
		b.Run(name, func(b *testing.B) {
			var rates []float64
			var last ingestResult
			for b.Loop() {
				setup := ingestSetup{replicas: replicas}
				if replicas > 0 {
					setup.dsn = pgtest.DurableDB(b)
				}
				last = runIngest(b, runDir(b), g, pls, setup)
				rates = append(rates, float64(last.n)/last.elapsed.Seconds())
			}
			b.ReportMetric(median(rates), "ev/s")
			b.ReportMetric(float64(last.n), "events")
			if replicas > 0 {
				b.ReportMetric(float64(last.hub.Commits), "hub-commits")
				b.ReportMetric(float64(last.hub.Duplicates), "hub-dups")
				b.ReportMetric(float64(last.hub.Conflicts), "hub-conflicts")
			}
		})
	}
}

// TestReplicaIngest takes a few doors' events through two replicas on
// PostgreSQL, as BenchmarkReplicaIngest does.
func TestReplicaIngest(t *testing.T) {
	g := newHubGen(t, 4)
	pls, err := g.payloads(60)
	if err != nil {
		t.Fatal(err)
	}
	r := runIngest(t, t.TempDir(), g, pls, ingestSetup{replicas: 2, dsn: pgtest.DB(t)})
	if r.elapsed <= 0 || r.hub.Stored != uint64(r.n) || r.hub.Acks == 0 {
		t.Errorf("%+v", r)
	}
}
