package config_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/config"
)

// child is a service's configuration as another process fills it in: the
// shared structs embedded and named, a duration, lists and a map.
type child struct {
	config.Base
	DB       config.DB
	Interval time.Duration    `env:"WORKER_INTERVAL"`
	Squads   []string         `env:"SQUADS" envSeparator:";"`
	Admins   []int64          `env:"ADMIN_IDS"`
	Limits   map[string]int   `env:"LIMITS"`
	Debug    bool             `env:"DEBUG"`
	Ratio    float64          `env:"RATIO"`
	Leads    []time.Duration  `env:"LEADS"`
	Skipped  map[string]int64 `env:"SKIPPED"`
}

func TestEnvironIsWhatLoadReadsBack(t *testing.T) {
	want := child{
		Base:     config.Base{Instance: "bot-handler-1", OpsAddr: "127.0.0.1:9110", NATSURL: "nats://127.0.0.1:4233", StreamReplicas: 3},
		DB:       config.DB{DatabaseURL: "postgres://postgres@127.0.0.1:5432/vpnbot?sslmode=disable", PoolMaxSize: 4},
		Interval: 5 * time.Second,
		Squads:   []string{"a,1", "b"},
		Admins:   []int64{7, 42},
		Limits:   map[string]int{"send": 30, "edit": 5},
		Debug:    true,
		Ratio:    0.25,
		Leads:    []time.Duration{24 * time.Hour, time.Hour},
	}
	env := config.Environ(want)
	require.Equal(t, []string{
		"INSTANCE=bot-handler-1",
		"OPS_ADDR=127.0.0.1:9110",
		"NATS_URL=nats://127.0.0.1:4233",
		"STREAM_REPLICAS=3",
		"DATABASE_URL=postgres://postgres@127.0.0.1:5432/vpnbot?sslmode=disable",
		"DB_POOL_MAX_SIZE=4",
		"WORKER_INTERVAL=5s",
		"SQUADS=a,1;b",
		"ADMIN_IDS=7,42",
		"LIMITS=edit:5,send:30",
		"DEBUG=true",
		"RATIO=0.25",
		"LEADS=24h0m0s,1h0m0s",
	}, env, "zero fields (LOG_LEVEL, WATCHDOG_EXIT_AFTER, SKIPPED) are left out")

	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	got, err := config.Load(child{})
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestEnvironLeavesZeroToTheReadersDefault(t *testing.T) {
	require.Empty(t, config.Environ(config.Base{}))
	require.Empty(t, config.Environ(&child{Admins: []int64{}}), "an empty list is no setting either")
	require.Equal(t, []string{"OPS_ADDR=:9102"}, config.Environ(&config.Base{OpsAddr: ":9102"}), "a pointer is read through")
}

// jsonList is a list that reads and writes itself whole, as a JSON array.
type jsonList []string

func (l jsonList) MarshalText() ([]byte, error) { return json.Marshal([]string(l)) }

func (l *jsonList) UnmarshalText(b []byte) error { return json.Unmarshal(b, (*[]string)(l)) }

func TestEnvironWritesAListThatMarshalsItselfWhole(t *testing.T) {
	type withList struct {
		Items jsonList `env:"ITEMS"`
	}
	want := withList{Items: jsonList{"a,b", "c"}}
	env := config.Environ(want)
	require.Equal(t, []string{`ITEMS=["a,b","c"]`}, env, "not joined item by item")
	t.Setenv("ITEMS", strings.TrimPrefix(env[0], "ITEMS="))
	got, err := config.Load(withList{})
	require.NoError(t, err)
	require.Equal(t, want, got)
}
