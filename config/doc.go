// Package config reads Kunci's configuration files (agent.yaml) into one
// struct per file, with typed durations, and validates them, reporting
// every problem with the field's path.
//
// It must never touch hardware or the network: resolving a pin or opening
// a port is the wiring's job in cmd/kunci.
package config
