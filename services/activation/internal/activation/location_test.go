package activation_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
	"github.com/vpnbot/vpnbot/services/activation/internal/activation"
)

// panelRow is a row of vpn_panels.
type panelRow struct {
	Name, Kind, Location       string
	Weight, Capacity, Position int
}

func (e *env) panelRows(t *testing.T) []panelRow {
	t.Helper()
	rows, err := e.db.Pool.Query(t.Context(), `SELECT name, kind, location, weight, capacity, position FROM vpn_panels ORDER BY position`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[panelRow])
	require.NoError(t, err)
	return got
}

// twoPanels is a fleet of the env's panel and another sandbox panel, as
// configured by cfgs.
func (e *env) twoPanels(t *testing.T, other *vpntest.Sandbox, cfgs ...vpn.MemberConfig) *vpn.Fleet {
	t.Helper()
	f, err := vpn.NewFleet([]vpn.Panel{e.panel, other.Panel}, cfgs, vpn.FleetOptions{Failover: true})
	require.NoError(t, err)
	return f
}

// vpn_panels is the fleet as configured: every panel with its placement
// settings, in order, and none that is no longer configured.
func TestTheFleetIsPublishedForTheBot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	other := vpntest.StartSandbox(t, vpn.KindRemnawave)
	_, err := e.db.Pool.Exec(t.Context(), `INSERT INTO vpn_panels (name, kind, location, weight, capacity, position)
		VALUES ('retired', 'outline', 'Paris', 1, 0, 1), ('fra', 'outline', 'Paris', 7, 7, 9)`)
	require.NoError(t, err)

	f := e.twoPanels(t, other,
		vpn.MemberConfig{Name: "fra", Location: "Frankfurt", Weight: 3, Capacity: 500},
		vpn.MemberConfig{Name: "ams", Location: "Amsterdam"})
	require.NoError(t, activation.PublishFleet(t.Context(), e.db.Pool, f))
	require.Equal(t, []panelRow{
		{"fra", vpn.KindOutline, "Frankfurt", 3, 500, 1},
		{"ams", vpn.KindRemnawave, "Amsterdam", 1, 0, 2},
	}, e.panelRows(t))

	f, err = vpn.NewFleet([]vpn.Panel{other.Panel}, []vpn.MemberConfig{{Name: "ams", Location: "Amsterdam", Weight: 2}}, vpn.FleetOptions{})
	require.NoError(t, err)
	require.NoError(t, activation.PublishFleet(t.Context(), e.db.Pool, f))
	require.Equal(t, []panelRow{{"ams", vpn.KindRemnawave, "Amsterdam", 2, 0, 1}}, e.panelRows(t))
}

// A replica started during a database outage records the fleet once the
// database is back, rather than exiting (a soak restarted activation
// during a PostgreSQL cut, and it exited).
func TestTheFleetIsRecordedOnceTheDatabaseIsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	other := vpntest.StartSandbox(t, vpn.KindRemnawave)
	f := e.twoPanels(t, other, vpn.MemberConfig{Name: "fra", Location: "Frankfurt"}, vpn.MemberConfig{Name: "ams", Location: "Amsterdam"})
	proxy := pgdbtest.NewProxy(t, e.db.Addr())
	pool, err := pgxpool.New(t.Context(), proxy.DSN(e.db.DSN))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	proxy.Cut()

	logs := &obstest.LogBuffer{}
	done := make(chan error, 1)
	go func() { done <- activation.PublishFleetWhenPossible(t.Context(), pool, f, obstest.NewLogger(logs)) }()
	require.Eventually(t, func() bool { return len(logs.Events(t, activation.EventFleetNotRecorded)) > 0 }, 10*time.Second, 20*time.Millisecond,
		"the first attempt failed")
	select {
	case err := <-done:
		t.Fatalf("gave up while the database was down: %v", err)
	default:
	}
	proxy.Restore()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("the fleet was not recorded once the database was back")
	}
	require.Len(t, e.panelRows(t), 2)
}

// A key is made in the location its user chose, and its message says
// which; with one location on offer, the message names none.
func TestAKeyIsMadeAndNamedInTheUsersLocation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                 string
		amsLoc, fraLoc, want string
	}{
		{"two locations", "Amsterdam", "Frankfurt", "📍 Location: Frankfurt"},
		{"one location", "Europe", "Europe", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, vpn.KindOutline)
			fra := vpntest.StartSandbox(t, vpn.KindRemnawave)
			f := e.twoPanels(t, fra,
				vpn.MemberConfig{Name: "ams", Location: tc.amsLoc, Weight: 100},
				vpn.MemberConfig{Name: "fra", Location: tc.fraLoc})
			a, err := activation.New(activation.Config{}, e.shop, e.db.Pool, e.js, f, zerolog.Nop(), prometheus.NewRegistry())
			require.NoError(t, err)
			user := newUserID()
			sub := e.trial(t, user, "en")
			// The first user of a location-blind fleet goes to the first
			// panel: fra only by choice.
			_, err = e.db.Pool.Exec(t.Context(), `UPDATE users SET location = $2 WHERE id = $1`, user, tc.fraLoc)
			require.NoError(t, err)

			res := iterate(t, &instance{a: a})
			require.Equal(t, 1, res["delivered"])
			acc := e.access(t, sub.ID)
			require.NotNil(t, acc)
			msgs := e.messages(t)
			require.Len(t, msgs, 1)
			require.Contains(t, msgs[0].GetText(), "<code>"+acc.URL+"</code>")
			if tc.want == "" {
				require.NotContains(t, msgs[0].GetText(), "📍")
				return
			}
			require.Equal(t, "fra", acc.Panel)
			require.Equal(t, 1, fra.Accounts())
			require.Contains(t, msgs[0].GetText(), tc.want)
		})
	}
}
