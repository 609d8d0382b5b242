// Package brokerconf proves the example broker configuration in configs/
// (mosquitto.conf and mosquitto.acl) by running it: its tests start
// Mosquitto with those very files, ports and paths rewritten for the test,
// and check who may publish and read what.
//
// It holds no code and must never be imported; it must never test a copy
// of the files, or the examples could rot unnoticed.
package brokerconf
