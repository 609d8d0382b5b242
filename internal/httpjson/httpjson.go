// Package httpjson writes the JSON answers of Kunci's small HTTP APIs (the
// agent's local API and the simulator), so that every answer and every
// error has the same form: indented JSON, errors as {"error": "..."}.
//
// It must never decide status codes or read requests: callers do.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write writes v as the JSON answer with code.
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Error writes {"error": err} with code.
func Error(w http.ResponseWriter, code int, err error) {
	Write(w, code, map[string]string{"error": err.Error()})
}
