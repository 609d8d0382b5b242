// Package metrics is the one writer of Kunci's /metrics: typed counters,
// gauges and one-label counter families, each registered once with its
// name, help and type on the Registry of its process (the agent's, the
// hub's), and written by Registry.Text in the Prometheus text format
// (version 0.0.4), sorted, every family with its # HELP and # TYPE lines.
//
// A part gets its metrics from the registry it is given at construction
// and keeps them in typed fields, so a misspelt counter is a compile error
// (never a map[string]uint64 where a typo makes a new counter). Label
// values have a type of their own (CounterVec[wire.Reason]), so a family
// is told apart by the code's constants. Names follow the Prometheus
// conventions, checked at registration: the kunci_ prefix, then the part
// (agent, hub, mqtt), lower-case snake case, _total on counters and only
// on them, base units (_seconds, _bytes).
//
// Why not a library. Measured on the Pi binary (CGO_ENABLED=0 GOOS=linux
// GOARCH=arm GOARM=6 go build ./cmd/kunci, Go 1.26), 15,150,852 bytes
// before any metrics change; each library was measured with a registry
// and a counter served over HTTP (client_golang also a counter vector):
//   - github.com/prometheus/client_golang v1.25.0 (a registry, a counter,
//     a counter vector and promhttp) made it 18,193,950 bytes, +3,043,098
//     (+20%), and links protobuf, procfs, xxhash and client_model into
//     it, and newer golang.org/x/net and x/sync.
//   - github.com/VictoriaMetrics/metrics v1.45.0: 15,310,863 bytes,
//     +160,011 (+1.1%), but it writes a HELP line without text, turns
//     metadata on for the whole process (a global, ExposeMetadata) and
//     names a labelled series by a string such as `x{reason="y"}`, where
//     a typo makes a new series again.
//   - this package (about 250 lines over sync/atomic), with every part
//     of the agent and the hub moved onto it: 15,243,628 bytes, +92,776
//     (+0.6%), no new module in the binary; measured again on a later
//     main, 15,248,686 bytes before and 15,339,310 after, +90,624.
//
// The official parser, github.com/prometheus/common/expfmt, is used by
// the tests only, to read both endpoints as Prometheus would. It is
// v0.32.1, the version mochi-mqtt already puts in the module graph, so
// the test dependency changes no module of the Pi binary; v0.74.0 would
// raise golang.org/x/net, which paho links, from v0.44.0 to v0.62.0.
//
// It must never take a metric name or a label value from input (a topic,
// a request, a card): every name is a constant of the code and every
// label value one of a closed set, or the scrape grows without bound. It
// must never block a counting caller on a scrape, never do I/O while
// counting, and never import another package of Kunci.
package metrics
