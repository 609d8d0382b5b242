package api

import (
	"time"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// MaxBody is the largest request body the API reads.
const MaxBody = 1 << 20

// AlarmRecord is an alarm's record (GET /api/alarms): door, kind, rack, permit
// id, the door's detail text, opened, cleared and the acknowledgement;
// no personal data.
type AlarmRecord = alarm.Alarm

// AckRequest is the body of POST /api/alarms/{id}/ack: what the person
// saw or did (permit.MaxNote; lines, no other control characters).
type AckRequest struct {
	Note string `json:"note"`
}

// Permit is a permit request as the API shows it: workflow.Record, NIK
// masked for every role but admin.
type Permit = workflow.Record

// PermitRequest is the body of POST /api/permits (SOP step 1). CardUID is
// the hex UID the desk reader typed; only its fingerprint is kept.
type PermitRequest struct {
	ID           string    `json:"id,omitempty"` // empty: the hub numbers it
	Site         string    `json:"site"`
	Door         string    `json:"door"`
	Guest        string    `json:"guest"`
	NIK          string    `json:"nik"`
	Organisation string    `json:"organisation"`
	Phone        string    `json:"phone,omitempty"`
	Purpose      string    `json:"purpose"`
	Equipment    []string  `json:"equipment,omitempty"`
	NotBefore    time.Time `json:"not_before"`
	NotAfter     time.Time `json:"not_after"`
	Entries      int       `json:"entries,omitempty"`
	CardUID      string    `json:"card_uid"`
	FormOpened   time.Time `json:"form_opened,omitzero"`
}

// CoordinateRequest is the body of .../coordinate.
type CoordinateRequest struct {
	Category permit.Category `json:"category"`
}

// EscortRequest is the body of .../escort.
type EscortRequest struct {
	Staff string `json:"staff"`
}

// ReasonRequest is the body of .../reject and .../revoke.
type ReasonRequest struct {
	Reason string `json:"reason"`
}

// Staff is a staff register entry.
type Staff = workflow.StaffMember

// StaffRequest is the body of POST /api/staff: a new member or a change
// (same id). CardUIDs are hex UIDs; only their fingerprints are kept.
type StaffRequest struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Site     string   `json:"site"`
	Doors    []string `json:"doors,omitempty"` // empty: every door of the site
	CardUIDs []string `json:"card_uids"`
	Escort   bool     `json:"escort"`
	Solo     bool     `json:"solo"`
	Disabled bool     `json:"disabled,omitempty"`
}

// CommandRequest is the body of POST /api/doors/{site}/{door}/commands.
type CommandRequest struct {
	Command wire.CommandName `json:"command"`
	Reason  string           `json:"reason,omitempty"` // why, recorded with the actor
}

// GapRequest is the body of POST /api/doors/{site}/{door}/gap: the seqs
// of the door's stalled epoch, from the stream's through+1 to Through,
// accepted as lost. Through must be below the lowest seq that came (the
// door's gap, GET /api/doors: gaps[].to at most).
type GapRequest struct {
	Epoch   string `json:"epoch"`
	Through uint64 `json:"through"`
	Reason  string `json:"reason"` // why they are lost, kept with the actor
}

// Lost is the answer of POST /api/doors/{site}/{door}/gap: the run of
// seqs accepted as lost, as the event store keeps it.
type Lost = ingest.Lost

// MaxGapReason bounds a GapRequest's reason, in bytes.
const MaxGapReason = 500

// Whoami is the caller as the hub knows it.
type Whoami struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// NewToken is the answer of POST /api/tokens: the token, shown once.
type NewToken struct {
	Token   string    `json:"token"`
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Roles   []string  `json:"roles"`
	Expires time.Time `json:"expires,omitzero"`
}

// GuestRow is one visit of the guest book (Buku Tamu).
type GuestRow struct {
	Site         string          `json:"site"`
	Door         string          `json:"door"`
	Permit       string          `json:"permit"`
	Guest        string          `json:"guest"`
	NIK          string          `json:"nik"` // masked but for admin
	Organisation string          `json:"organisation"`
	Purpose      string          `json:"purpose"`
	Category     permit.Category `json:"category"`
	Escort       string          `json:"escort"`
	Approver     string          `json:"approver"`
	Entered      time.Time       `json:"entered"`
	Exited       time.Time       `json:"exited,omitzero"`
	Secured      time.Time       `json:"secured,omitzero"`
	NotSecured   bool            `json:"not_secured,omitempty"`
	Equipment    []string        `json:"equipment,omitempty"`
	Alarms       []Alarm         `json:"alarms,omitempty"`
}

// Alarm is an alarm during a visit.
type Alarm struct {
	Type   wire.EventType `json:"type"`
	At     time.Time      `json:"at"`
	Rack   string         `json:"rack,omitempty"`
	Detail string         `json:"detail,omitempty"`
}

// SLAReport is the service-time report: each permit's steps and the
// aggregate, against the SOP's standard times.
type SLAReport struct {
	Standard []StepStandard `json:"standard"`
	Permits  []PermitTimes  `json:"permits"`
	Summary  []StepSummary  `json:"summary"` // steps 1-8 (6 not timed), then "total"
	// Response is "notified → acted" of steps 2-4, aggregated: from when
	// the step's notification was handed to its channel until the step
	// was taken, against the step's standard.
	Response []StepSummary `json:"response"`
}

// StepStandard is one SOP step and its standard time.
type StepStandard struct {
	Step     string        `json:"step"` // "1".."8", "total"
	Name     string        `json:"name"`
	Standard wire.Duration `json:"standard,omitzero"` // zero: not timed
}

// PermitTimes is one permit's service times.
type PermitTimes struct {
	Permit string     `json:"permit"`
	Steps  []StepTime `json:"steps"` // steps 1-8, then "total"
	// Response is the permit's "notified → acted" of steps 2-4.
	Response []StepTime `json:"response"`
}

// StepTime is one step of one permit.
type StepTime struct {
	Step     string        `json:"step"`
	Known    bool          `json:"known"`
	Duration wire.Duration `json:"duration,omitzero"`
	Within   bool          `json:"within"`
}

// StepSummary aggregates one step over the permits.
type StepSummary struct {
	Step   string        `json:"step"`
	Count  int           `json:"count"`
	Median wire.Duration `json:"median"`
	P90    wire.Duration `json:"p90"`
	Within float64       `json:"within"` // share within the standard, 0..1
}

// PurgeResult is the answer of POST /api/purge.
type PurgeResult struct {
	Retention wire.Duration `json:"retention"`
	Examined  int           `json:"examined"`
	Purged    []string      `json:"purged"` // ids of the permits purged now
}

// StepNames are the SOP steps' short names, indexed 1-8.
var StepNames = [workflow.Steps + 1]string{"", "form", "coordinate", "approve", "escort", "entry", "work", "exit", "secure"}
