// Package rules holds no code: its tests check the architecture of
// design.md (what each package may import) and that every package says,
// in its doc, what it is for.
package rules
