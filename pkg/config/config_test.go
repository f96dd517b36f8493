package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/config"
)

type svc struct {
	config.Base
	config.DB
	Token   string        `env:"TELEGRAM_BOT_TOKEN" secret:"true"`
	Timeout time.Duration `env:"HANDLER_TIMEOUT"`
}

func (s svc) Validate() error { return s.DB.Validate() }

func TestLoadKeepsDefaultsAndOverlaysEnvironment(t *testing.T) {
	t.Setenv("DB_POOL_MAX_SIZE", "7")
	t.Setenv("HANDLER_TIMEOUT", "3s")
	cfg, err := config.Load(svc{Base: config.NewBase(":9102"), DB: config.NewDB(10), Timeout: 25 * time.Second})
	require.NoError(t, err)
	require.Equal(t, int32(7), cfg.PoolMaxSize)
	require.Equal(t, 3*time.Second, cfg.Timeout)
	require.Equal(t, ":9102", cfg.OpsAddr)
	require.Equal(t, "info", cfg.LogLevel)
}

func TestLoadRejectsInvalid(t *testing.T) {
	t.Setenv("DB_POOL_MAX_SIZE", "0")
	_, err := config.Load(svc{Base: config.NewBase(":9102"), DB: config.NewDB(10)})
	require.ErrorContains(t, err, "DB_POOL_MAX_SIZE=0")

	t.Setenv("DB_POOL_MAX_SIZE", "many")
	_, err = config.Load(svc{Base: config.NewBase(":9102"), DB: config.NewDB(10)})
	require.Error(t, err)
}

func TestLoadRejectsStreamReplicasJetStreamCannotKeep(t *testing.T) {
	cfg, err := config.Load(svc{Base: config.NewBase(":9102"), DB: config.NewDB(10)})
	require.NoError(t, err)
	require.Equal(t, 1, cfg.StreamReplicas, "one copy unless told: make run and the tests run one NATS server")
	require.Equal(t, 1, config.Fields(cfg)["STREAM_REPLICAS"], "logged with the rest of the configuration")

	t.Setenv("STREAM_REPLICAS", "3")
	cfg, err = config.Load(svc{Base: config.NewBase(":9102"), DB: config.NewDB(10)})
	require.NoError(t, err)
	require.Equal(t, 3, cfg.StreamReplicas)

	for _, bad := range []string{"0", "6", "-1"} {
		t.Setenv("STREAM_REPLICAS", bad)
		_, err = config.Load(svc{Base: config.NewBase(":9102"), DB: config.NewDB(10)})
		require.ErrorContains(t, err, "STREAM_REPLICAS="+bad+": must be 1 to 5")
	}
	// The service's own Validate still runs beside it.
	t.Setenv("DB_POOL_MAX_SIZE", "0")
	_, err = config.Load(svc{Base: config.NewBase(":9102"), DB: config.NewDB(10)})
	require.ErrorContains(t, err, "STREAM_REPLICAS=-1")
	require.ErrorContains(t, err, "DB_POOL_MAX_SIZE=0")
}

func TestFieldsMaskSecrets(t *testing.T) {
	cfg := svc{
		Base:  config.NewBase(":9102"),
		DB:    config.DB{DatabaseURL: "postgres://bot:hunter2@db:5432/vpnbot", PoolMaxSize: 3},
		Token: "123:secret-token",
	}
	f := config.Fields(cfg)
	require.Equal(t, "***", f["TELEGRAM_BOT_TOKEN"])
	require.Equal(t, "postgres://bot:xxxxx@db:5432/vpnbot", f["DATABASE_URL"])
	require.Equal(t, int32(3), f["DB_POOL_MAX_SIZE"])
	require.Equal(t, "***", config.RedactURL("host=db password=hunter2"))
}

// secretList is a secret setting that is not a string, as a JSON list of
// panels with their tokens is.
type secretList []struct{ Name, Token string }

func (l *secretList) UnmarshalText(b []byte) error {
	for name := range strings.SplitSeq(string(b), ",") {
		*l = append(*l, struct{ Name, Token string }{name, "token-of-" + name})
	}
	return nil
}

type withSecretValues struct {
	Panels  secretList        `env:"PANELS" secret:"true"`
	Keys    []string          `env:"KEYS" secret:"true"`
	Headers map[string]string `env:"HEADERS" secret:"true"`
	PIN     int               `env:"PIN" secret:"true"`
}

func TestFieldsMaskSecretsOfAnyType(t *testing.T) {
	t.Setenv("PANELS", "nl-1,de-1")
	t.Setenv("KEYS", "key-one,key-two")
	t.Setenv("HEADERS", "Authorization:Bearer-abc")
	t.Setenv("PIN", "4321")
	cfg, err := config.Load(withSecretValues{})
	require.NoError(t, err)
	require.Len(t, cfg.Panels, 2, "the list was read")

	f := config.Fields(cfg)
	for _, name := range []string{"PANELS", "KEYS", "HEADERS", "PIN"} {
		require.Equal(t, "***", f[name], name)
	}
	logged := fmt.Sprint(f)
	for _, secret := range []string{"token-of", "key-one", "Bearer-abc", "4321"} {
		require.NotContains(t, logged, secret)
	}

	unset := config.Fields(withSecretValues{Keys: []string{}})
	for _, name := range []string{"PANELS", "KEYS", "HEADERS", "PIN"} {
		require.Empty(t, unset[name], "%s: an unset secret shows as unset, not as one that is there", name)
	}
}
