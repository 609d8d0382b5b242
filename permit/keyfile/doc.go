// Package keyfile writes and finds Kunci's key files in a folder: the
// hub's signing key pair (hub-<id>.key, secret, and hub-<id>.pub, for
// every agent's trusted_keys) and the site key (site.key, secret, the
// same on the hub and every agent of a site); and it writes signed
// records whole or not at all.
//
// It must never overwrite a key, never make a secret readable by anyone
// but its owner, and never leave half a record where an agent watching
// the folder could read it.
package keyfile
