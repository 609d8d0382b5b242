// Package mqttlink is Kunci's MQTT connection: a small wrapper around
// paho.mqtt.golang that connects with jittered backoff, subscribes again on
// every connection, sets the last will, carries TLS and credentials, and
// hands incoming messages to one handler goroutine through a bounded queue,
// so that paho's callbacks never block on Kunci's work: a message that finds
// the queue full is dropped and counted, and the link subscribes again once
// the queue has drained, so that the retained ones come anew.
//
// A link may take several brokers (Options.Brokers: a site that runs two
// Mosquittos, which do not cluster): it is on one at a time and moves to
// the next when its broker is lost (see Link.Run). A Set is one link per
// broker, all up at once, for the hub that serves doors on any of them.
//
// It must never promise durability: paho's own store is not durable, and a
// completed publish is not proof of delivery across a reconnect. Durability
// is the outbox's end-to-end ack. It must never import the agent.
package mqttlink
