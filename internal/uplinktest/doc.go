// Package uplinktest runs doors' uplinks as the agent runs them, for tests
// of the hub's side against a real broker: each door an agent.Store (a
// real bbolt file) that events are appended to, and the agent's
// outbox.Pump publishing them on a clean-session mqttlink.Link and
// deleting them only on the hub's signed ack on events/ack. A door thus
// keeps its backlog, and publishes it again, until the hub acks it.
//
// It must never be imported outside tests, never stand in for the pump's
// rules (it runs the pump itself), and never trust anything but the
// hub's signed ack.
package uplinktest
