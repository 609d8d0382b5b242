package demo

import "strings"

// HelpFields are what Help fills in.
type HelpFields struct {
	Site, Door, Addr, Data string
	MQTT, Host, Port       string // MQTT empty: no broker (--mqtt off)
	Hub                    bool   // the hub runs: its console and API
	TokenFile, Token, Code string // the admin token and a one-time sign-in code
	UsersFile              string
}

// Help is what kunci dev prints once the door is ready: the door and
// its simulator, the MQTT side when there is one, the console and the
// API when the hub runs.
func Help(f HelpFields) string {
	help := devHelp
	if f.MQTT != "" {
		help += devMQTTHelp
	} else {
		help += "\nNo MQTT (--mqtt off): the door alone keeps every event in its local log; no hub.\n"
	}
	if f.Hub {
		help += devHubHelp
	}
	return strings.NewReplacer("{site}", f.Site, "{door}", f.Door, "{addr}", f.Addr, "{data}", f.Data,
		"{guest}", GuestUID, "{escort}", EscortUID, "{solo}", SoloUID, "{other}", OtherUID,
		"{mqtt}", f.MQTT, "{host}", f.Host, "{port}", f.Port, "{tokenfile}", f.TokenFile, "{token}", f.Token,
		"{code}", f.Code, "{usersfile}", f.UsersFile).Replace(help)
}

// The parts of Help; the {names} are filled in.
const devHelp = `
Kunci dev: a simulated door (site {site}, door {door}, racks R1 and R2) on http://{addr}
Data (keys, signed records, store): {data}. Stop with Ctrl-C.

The SOP at the door: guest P-0012 taps, escort S-004 taps within 30 s, the door opens.
  curl -s -H 'Content-Type: application/json' -XPOST {addr}/sim/tap -d '{"reader":"entry","uid":"{guest}"}'
  curl -s -H 'Content-Type: application/json' -XPOST {addr}/sim/tap -d '{"reader":"entry","uid":"{escort}"}'
  curl -s -H 'Content-Type: application/json' -XPOST {addr}/sim/door -d '{"open":true}'
  curl -s -H 'Content-Type: application/json' -XPOST {addr}/sim/door -d '{"open":false}'
  curl -s {addr}/status
  curl -s '{addr}/events?after=0'
Also: the exit button (curl -s -H 'Content-Type: application/json' -XPOST {addr}/sim/exit-button), a rack
(curl -s -H 'Content-Type: application/json' -XPOST {addr}/sim/rack -d '{"rack":"R1","open":true}'), staff S-001 alone
(uid {solo} on {addr}), an unknown card (uid {other}).
`

const devMQTTHelp = `
MQTT: {mqtt}.
The door publishes its events; the hub stores them, acks them (the door
then deletes them) and keeps the guest book; the hub publishes the signed
permits and staff records the door holds. Watch:
  mosquitto_sub -h {host} -p {port} -v -t 'kunci/#'
`

const devHubHelp = `
Konsol Kunci, the web console: http://{addr}/
  signed in as admin at once (a one-time link, for 15 minutes): http://{addr}/masuk/kode/{code}
  the office, one user per SOP role (passwords in {usersfile}):
  meja (the desk), jaringan (network administrator), kasi (Kasi Infrastruktur TIK), auditor, admin

The hub's API is on http://{addr}/api/ (SOP steps 1-4, the guest book, reports).
Admin token (also in {tokenfile}):
  export KUNCI_TOKEN={token} KUNCI_HUB=http://{addr}
  kunci status                 the door: lock, door, racks, who is inside
  kunci permit list            permits and their state
  kunci guestbook              the Buku Tamu; --csv for a spreadsheet
  kunci sla                    service times against the SOP's standards
  kunci watch                  events as they happen (Ctrl-C to stop)
The whole SOP in one go: kunci dev --demo
`
