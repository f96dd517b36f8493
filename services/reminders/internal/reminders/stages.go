package reminders

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Stages are how long before its expiry a subscription is reminded, one
// reminder per stage, shortest first. Read from the environment as a comma
// separated list of Go durations in any order ("72h,24h,1h").
type Stages []time.Duration

// DefaultStages are the stages of REMINDER_STAGES left unset: three days,
// one day and one hour before expiry.
func DefaultStages() Stages {
	return Stages{time.Hour, 24 * time.Hour, 72 * time.Hour}
}

// ParseStages reads a comma separated list of stages ("72h,24h,1h"). Each
// must be positive and a whole number of minutes (it names the reminder's
// kind), and no two may be equal.
func ParseStages(s string) (Stages, error) {
	var st Stages
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil {
			return nil, fmt.Errorf("reminder stage %q: %w", part, err)
		}
		st = append(st, d)
	}
	slices.Sort(st)
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return st, nil
}

// Validate reports stages that cannot work: none, one not positive or not a
// whole number of minutes, or two equal ones (their reminders would be one).
// Stages must be sorted, as ParseStages and DefaultStages return them.
func (s Stages) Validate() error {
	if len(s) == 0 {
		return errors.New("no reminder stages: want at least one, such as 72h,24h,1h")
	}
	var errs []error
	for i, d := range s {
		switch {
		case d <= 0:
			errs = append(errs, fmt.Errorf("reminder stage %s: must be positive", d))
		case d%time.Minute != 0:
			errs = append(errs, fmt.Errorf("reminder stage %s: must be a whole number of minutes", d))
		case i > 0 && d == s[i-1]:
			errs = append(errs, fmt.Errorf("reminder stage %s: given twice", formatStage(d)))
		case i > 0 && d < s[i-1]:
			errs = append(errs, errors.New("reminder stages: not sorted"))
		}
	}
	return errors.Join(errs...)
}

// UnmarshalText parses REMINDER_STAGES (see ParseStages).
func (s *Stages) UnmarshalText(text []byte) error {
	st, err := ParseStages(string(text))
	if err != nil {
		return err
	}
	*s = st
	return nil
}

// MarshalText writes the stages as they are configured, longest first:
// "72h,24h,1h", for the configuration log.
func (s Stages) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}

// String writes the stages longest first: "72h,24h,1h".
func (s Stages) String() string {
	parts := make([]string, 0, len(s))
	for _, d := range slices.Backward(s) {
		parts = append(parts, formatStage(d))
	}
	return strings.Join(parts, ",")
}

// formatStage writes a stage in its largest whole unit: "24h", "90m".
func formatStage(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return d.String()
	}
}
