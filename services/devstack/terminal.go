package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/procs"
)

// followed are the events a person follows on make run's console at level
// info, chosen by the `event` field the services log: what a user's actions,
// and the system's own work for them, make happen, and the recovery after a
// warning. Warnings and errors are shown whatever their event. The events
// that services' own packages define are named here as they log them.
var followed = map[string]bool{
	obs.EventUpdateHandled:   true, // bot-handler: an update answered
	"PAYMENT_APPLIED":        true, // bot-handler (Stars), payment-watcher (Crypto Pay)
	"BROADCAST_QUEUED":       true, // bot-handler: an admin's broadcast
	"ACCESS_CREATED":         true, // activation: a key made on the VPN panel
	"ACCESS_EXTENDED":        true, // activation: a paid period moved a key's expiry
	"KEY_DELIVERED":          true, // activation: the key handed to the sender
	"REMINDER_SENT":          true, // reminders
	"TRIAL_NOTICE_SENT":      true, // trial-notifier
	"ACCESS_REVOKED":         true, // expiry-cleanup: a key revoked after expiry
	"EXPIRY_NOTICE_SENT":     true, // expiry-cleanup: the user told so
	obs.EventLeaderAcquired:  true, // a replica took over the sender or a singleton worker
	bus.EventNATSReconnected: true, // after NATS_DISCONNECTED
	bus.EventGateOpened:      true, // after CONSUMER_GATE_CLOSED
	obs.EventServiceStop:     true,
}

// ownHidden are the events of the devstack's own log the console leaves to
// the file: its configuration, a line too long to read there, and the
// status page's connection to NATS, which is no news.
var ownHidden = map[string]bool{obs.EventConfig: true, bus.EventNATSConnected: true}

// ownSource names the devstack's own lines on the console.
const ownSource = "devstack"

// terminal is make run's console (the devstack's stdout): each service's
// start, every warning and error, and the events a person follows, one line
// each, so the welcome text with the addresses stays in view. Every line,
// shown or not, is in its process's file in the log folder (localstack
// Config.LogDir, and the devstack's own in devstack.log).
type terminal struct {
	mu  sync.Mutex
	out io.Writer
	now func() time.Time // dates the lines that carry no time
}

func newTerminal(out io.Writer) *terminal {
	return &terminal{out: out, now: time.Now}
}

// Write takes the services' output (localstack Config.Output), lines as
// procs.FormatLine names them, and shows those a person follows: a service's
// warnings, errors and followed events, and whatever is not a JSON log line
// (a panic's trace). Its own start is the devstack's "service ready".
func (t *terminal) Write(p []byte) (int, error) {
	for line := range strings.Lines(string(p)) {
		line = strings.TrimSuffix(line, "\n")
		source, own, ok := procs.SplitLine(line)
		if !ok {
			source, own = "", line
		}
		t.show(source, own, showService)
	}
	return len(p), nil
}

// own is the writer of the devstack's own log: every line to file, and to
// the console all but its configuration (the devstack says little, and
// what it says, a person reads: the build, each service ready, a switch
// thrown, a service killed).
func (t *terminal) own(file io.Writer) io.Writer {
	return ownLog{t: t, file: file}
}

type ownLog struct {
	t    *terminal
	file io.Writer
}

// Write takes one log line of zerolog's, as zerolog writes them.
func (o ownLog) Write(p []byte) (int, error) {
	n, err := o.file.Write(p)
	o.t.show(ownSource, strings.TrimSuffix(string(p), "\n"), showOwn)
	return n, err
}

// entry is a JSON log line: its level, event and message, and its other
// fields in the order they were written.
type entry struct {
	time    time.Time
	level   zerolog.Level
	event   string
	message string
	fields  []field
}

type field struct {
	key   string
	value json.RawMessage
}

// showService is whether a person follows a service's line: a warning, an
// error, or a followed event.
func showService(e entry) bool {
	return e.level >= zerolog.WarnLevel || followed[e.event]
}

// showOwn is whether the console shows a line of the devstack's own log.
func showOwn(e entry) bool {
	return e.level >= zerolog.WarnLevel || !ownHidden[e.event]
}

// show writes line of source to the console when show says so; a line that
// is no JSON log line is shown as it is.
func (t *terminal) show(source, line string, show func(entry) bool) {
	var rendered string
	if e, ok := parseEntry(line); ok {
		if !show(e) {
			return
		}
		rendered = t.render(source, e)
	} else {
		if strings.TrimSpace(line) == "" {
			return
		}
		rendered = t.prefix(t.now(), source) + line
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintln(t.out, rendered)
}

// maxValue bounds one field's value on the console; the file has it whole.
const maxValue = 160

// render writes e on one line: its time, source, level when a warning or
// worse, event, message, then its fields but those of the logger's context.
func (t *terminal) render(source string, e entry) string {
	var b strings.Builder
	when := e.time
	if when.IsZero() {
		when = t.now()
	}
	b.WriteString(t.prefix(when, source))
	if e.level >= zerolog.WarnLevel {
		b.WriteString(strings.ToUpper(e.level.String()) + " ")
	}
	if e.event != "" {
		b.WriteString(e.event + " ")
	}
	b.WriteString(e.message)
	// Every logger's context starts with service and instance, which the
	// source says; a field of the same name later is the line's own.
	loggers := map[string]bool{"service": true, "instance": true}
	sep := " · "
	for _, f := range e.fields {
		if loggers[f.key] {
			delete(loggers, f.key)
			continue
		}
		b.WriteString(sep + f.key + "=" + value(f.value))
		sep = " "
	}
	return b.String()
}

func (t *terminal) prefix(when time.Time, source string) string {
	return fmt.Sprintf("%s %-15s ", when.Local().Format(time.TimeOnly), source)
}

// value writes a field's value: a string bare unless it needs quotes, the
// rest as JSON, cut at maxValue.
func value(raw json.RawMessage) string {
	var s string
	out := string(raw)
	if json.Unmarshal(raw, &s) == nil {
		out = s
		if s == "" || strings.ContainsAny(s, " \"=") {
			out = strconv.Quote(s)
		}
	}
	if r := []rune(out); len(r) > maxValue {
		out = string(r[:maxValue]) + "…"
	}
	return out
}

// parseEntry reads a zerolog JSON line, keeping its fields' order; ok is
// false for anything else.
func parseEntry(line string) (entry, bool) {
	if !strings.HasPrefix(line, "{") {
		return entry{}, false
	}
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return entry{}, false
	}
	// A line without a level is no warning.
	e := entry{level: zerolog.InfoLevel}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return entry{}, false
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return entry{}, false
		}
		raw = compact(raw)
		var s string
		_ = json.Unmarshal(raw, &s)
		switch key {
		case zerolog.TimestampFieldName:
			e.time, _ = time.Parse(time.RFC3339Nano, s)
		case zerolog.LevelFieldName:
			if lvl, err := zerolog.ParseLevel(s); err == nil {
				e.level = lvl
			}
		case zerolog.MessageFieldName:
			e.message = s
		case "event":
			e.event = s
		default:
			e.fields = append(e.fields, field{key, raw})
		}
	}
	return e, true
}

func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// logFolder is the log folder under the devstack's state folder.
const logFolder = "logs"

// welcomeFile keeps the welcome text in the log folder, for whoever lost it.
const welcomeFile = "welcome.txt"

// openConsole sets make run's console up on out: a terminal for the
// services' output, and log, the devstack's own logger, writing whole to
// logDir/devstack.log and shown on the terminal. closeLog closes that file.
func openConsole(out io.Writer, log zerolog.Logger, logDir string) (*terminal, zerolog.Logger, func() error, error) {
	file, err := localstack.OpenLog(logDir, ownSource)
	if err != nil {
		return nil, log, nil, err
	}
	t := newTerminal(out)
	return t, log.Output(t.own(file)), file.Close, nil
}

// welcome shows the welcome text and keeps it in logDir, so that it can be
// found again however much the console has said since.
func (t *terminal) welcome(text []byte, logDir string) error {
	t.mu.Lock()
	_, err := t.out.Write(text)
	t.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(logDir, welcomeFile), text, 0o644); err != nil {
		return fmt.Errorf("keeping the welcome text: %w", err)
	}
	return nil
}

// shortPath is path relative to the working directory when it lies below
// it, as make run's .data/logs does, else path.
func shortPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}
