// Package config reads Kunci's configuration files (agent.yaml for a door,
// hub.yaml for the hub) into one struct per file, with typed durations,
// and validates them, reporting every problem with the field's path. Both
// files are read by the same code: one YAML document, no unknown field, no
// key set twice, relative paths taken from the file's folder.
//
// It must never touch hardware or the network: resolving a pin or opening
// a port is the wiring's job in cmd/kunci.
package config
