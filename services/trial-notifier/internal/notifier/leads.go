package notifier

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Leads are how long before a trial's end its two "ends soon" notices fall
// due: First and Last, each recorded, and counted, as the kind named after
// its lead (notify.TrialEndsSoonKind: trial_24h and trial_1h by default).
// Read from the environment as "first,last" ("24h,1h").
type Leads struct {
	First, Last time.Duration
}

// DefaultLeads are a day and an hour before the end.
var DefaultLeads = Leads{First: 24 * time.Hour, Last: time.Hour}

// ParseLeads reads "first,last": exactly two Go durations, the first notice's
// lead before the last one's ("24h,1h", "10m,5m").
func ParseLeads(s string) (Leads, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 2 {
		return Leads{}, fmt.Errorf("want two leads, the first notice's then the last one's, such as 24h,1h; got %d", len(parts))
	}
	var ds [2]time.Duration
	for i, part := range parts {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil {
			return Leads{}, fmt.Errorf("lead %q: %w", strings.TrimSpace(part), err)
		}
		ds[i] = d
	}
	l := Leads{First: ds[0], Last: ds[1]}
	if err := l.Validate(); err != nil {
		return Leads{}, err
	}
	return l, nil
}

// Validate reports leads that cannot work: one not positive or not a whole
// number of minutes (the notices tell it in minutes at most), or a first
// lead not longer than the last (the first notice's window ends where the
// last one's begins).
func (l Leads) Validate() error {
	var errs []error
	for _, d := range []time.Duration{l.First, l.Last} {
		switch {
		case d <= 0:
			errs = append(errs, fmt.Errorf("lead %s: must be positive", d))
		case d%time.Minute != 0:
			errs = append(errs, fmt.Errorf("lead %s: must be a whole number of minutes", d))
		}
	}
	if len(errs) == 0 && l.First <= l.Last {
		errs = append(errs, fmt.Errorf("first lead %s: must be longer than the last, %s", formatLead(l.First), formatLead(l.Last)))
	}
	return errors.Join(errs...)
}

// UnmarshalText parses TRIAL_NOTICE_LEADS (see ParseLeads). Its error names
// the variable: the configuration loader names only the field.
func (l *Leads) UnmarshalText(text []byte) error {
	parsed, err := ParseLeads(string(text))
	if err != nil {
		return fmt.Errorf("TRIAL_NOTICE_LEADS=%s: %w", text, err)
	}
	*l = parsed
	return nil
}

// MarshalText writes the leads as they are configured, for the
// configuration log.
func (l Leads) MarshalText() ([]byte, error) {
	return []byte(l.String()), nil
}

// String writes the leads as they are configured: "24h,1h".
func (l Leads) String() string {
	return formatLead(l.First) + "," + formatLead(l.Last)
}

// formatLead writes a lead without the zero units time.Duration.String
// ends in: "24h", "10m", "1h30m".
func formatLead(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
