package reminders_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/services/reminders/internal/reminders"
)

func TestStagesAreReadInAnyOrderAndWrittenLongestFirst(t *testing.T) {
	t.Parallel()
	st, err := reminders.ParseStages(" 1h, 72h,24h ")
	require.NoError(t, err)
	require.Equal(t, reminders.Stages{time.Hour, 24 * time.Hour, 72 * time.Hour}, st)
	require.Equal(t, "72h,24h,1h", st.String())
	require.Equal(t, reminders.DefaultStages(), st)

	st, err = reminders.ParseStages("90m,168h")
	require.NoError(t, err)
	require.Equal(t, "168h,90m", st.String())
}

func TestStagesThatCannotWorkAreRefused(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":          "no reminder stages",
		" , ":       "no reminder stages",
		"1 day":     `reminder stage "1 day"`,
		"0h":        "must be positive",
		"24h,-1h":   "must be positive",
		"30s":       "whole number of minutes",
		"24h,1440m": "24h: given twice",
	} {
		_, err := reminders.ParseStages(in)
		require.ErrorContains(t, err, want, "REMINDER_STAGES=%q", in)
	}
}
