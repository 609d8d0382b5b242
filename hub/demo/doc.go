// Package demo is the demo site of kunci dev: its data folder (keys,
// the simulated door's signed records, the stores, the admin token), the
// door's config, the hub with the demo's staff and permit P-0012 seeded,
// and Play, the SOP played once from request to a secured room.
//
// The cards are made-up UIDs, printed for the user to tap on the
// simulator. It must never be used for a real site: its keys lie beside
// its stores, its door is simulated and its hub takes only that door.
package demo
