// Package mqttlinktest holds Link, the hand-written fake of Kunci's MQTT
// link (style.md: test logic with a fake, the wire with a real broker),
// exported once as periph's gpiotest does for its pins. It records every
// publish, is up or down as the test says and signals each new connection,
// and completes publish tokens at once or when the test acknowledges them,
// so that the outbox, status, discovery and ingest tests can drive every
// order of events a broker and paho can produce.
//
// It is for tests only and must never be imported by a program. It must
// never talk to a network or a broker: tests of the wire spawn a real one
// (internal/mqtttest).
package mqttlinktest
