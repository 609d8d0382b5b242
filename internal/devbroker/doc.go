// Package devbroker is kunci dev's embedded MQTT broker: internal/mochigate
// on a loopback address, every client allowed, nothing persisted, logging
// only mochi's warnings and errors, and closed within a bound.
//
// It must never listen on an address other machines reach (it lets every
// client in), and never serve a site: Mosquitto is the site's broker.
package devbroker
