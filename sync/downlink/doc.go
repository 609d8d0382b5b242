// Package downlink takes what the hub sends a door over MQTT: signed
// permits and revocations (retained on permits/<id>), signed staff records
// (retained on staff/<id>) and signed commands (on cmd, never retained).
// Its Handler is the message handler of the agent's mqttlink.Link.
//
// Every message is judged before the door sees it: its size is bounded
// before it is parsed (permit.MaxSigned), its signature verified against
// the hub keys the agent pins, its kind matched to its topic and its id to
// the topic's id; a command that arrives retained is refused. What passes
// goes to the door, which refuses an older version, another door's record,
// an expired command or a replayed nonce. An empty payload (a retained
// topic being cleared) is ignored and counted. Every refusal is counted in
// kunci_agent_downlink_rejected_total{reason}, and recorded as
// permit.rejected or command.rejected with its reason, the permit its
// topic names and the topic: the first RefusalBurst (5) of a topic and
// reason in each RefusalWindow (10 s) as events of their own, the rest as
// one summary event with their count when the window ends; and the
// downlink writes them to the door at most once a RefusalInterval (1 s),
// those of an interval in one transaction. A flood of garbage thus costs
// the door's loop one durable write a second, not one a message or a
// topic.
//
// It must never change the door on input it refused, never obey a command
// that is retained, unsigned, expired or replayed, never panic on any
// topic or payload, and never copy more than a bounded, clipped part of a
// topic or an error into an event or a log line. It needs of the door only
// the small Door interface, so that it is tested with a fake; it must never
// reach into the agent's store or machine.
package downlink
