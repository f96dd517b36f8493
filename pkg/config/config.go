// Package config reads a service's typed configuration from the environment,
// once, at start, and renders it for the start-up log with secrets masked.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Base holds the settings every service reads.
type Base struct {
	// Instance names this process in logs; defaults to the host name.
	Instance string `env:"INSTANCE"`
	LogLevel string `env:"LOG_LEVEL"`
	OpsAddr  string `env:"OPS_ADDR"`
	// NATSURL is one server's URL, or several, comma-separated: the nodes
	// of a cluster, any of which the connection may use.
	NATSURL string `env:"NATS_URL" secret:"dsn"`
	// StreamReplicas is how many NATS servers keep a copy of each stream the
	// service declares (the DLQ included): 3 on a three-node cluster, so
	// that an update JetStream acknowledged survives the loss of a node
	// and the stream stays available while it is gone. The consumers
	// follow their stream.
	StreamReplicas int `env:"STREAM_REPLICAS"`
	// WatchdogExitAfter, when set, makes the process exit once its liveness
	// check has failed for that long: for runs without an orchestrator.
	WatchdogExitAfter time.Duration `env:"WATCHDOG_EXIT_AFTER"`
	// OTLPEndpoint and OTLPTracesEndpoint, the standard OpenTelemetry
	// settings, turn tracing on when either is set (pkg/tracing); the
	// exporter reads its other OTEL_* settings itself.
	OTLPEndpoint       string `env:"OTEL_EXPORTER_OTLP_ENDPOINT" secret:"dsn"`
	OTLPTracesEndpoint string `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" secret:"dsn"`
	// TracesSampler and TracesSamplerArg choose which traces are kept:
	// parentbased_always_on unless set.
	TracesSampler    string `env:"OTEL_TRACES_SAMPLER"`
	TracesSamplerArg string `env:"OTEL_TRACES_SAMPLER_ARG"`
}

// DB holds the settings of a service that talks to PostgreSQL.
type DB struct {
	DatabaseURL string `env:"DATABASE_URL" secret:"dsn"`
	PoolMaxSize int32  `env:"DB_POOL_MAX_SIZE"`
}

// BaseConfig returns b: a service's Config embeds Base, and so tells the
// service skeleton its common settings.
func (b Base) BaseConfig() Base { return b }

// DBConfig returns d: a service's Config that embeds DB gets a connection
// pool from the service skeleton.
func (d DB) DBConfig() DB { return d }

// NewBase returns the defaults shared by all services, with the service's own ops address.
func NewBase(opsAddr string) Base {
	host, _ := os.Hostname()
	return Base{
		Instance:       host,
		LogLevel:       "info",
		OpsAddr:        opsAddr,
		NATSURL:        "nats://127.0.0.1:4222",
		StreamReplicas: 1,
	}
}

// MaxStreamReplicas is the most copies of a stream JetStream keeps.
const MaxStreamReplicas = 5

// validate reports a setting of b that cannot work. It is unexported so that
// a service's Config, which embeds Base, does not take it for its own
// Validate: Load calls both.
func (b Base) validate() error {
	if b.StreamReplicas < 1 || b.StreamReplicas > MaxStreamReplicas {
		return fmt.Errorf("STREAM_REPLICAS=%d: must be 1 to %d (JetStream's limit), and at most the NATS servers in the cluster",
			b.StreamReplicas, MaxStreamReplicas)
	}
	return nil
}

// NewDB returns the defaults of the database settings with the service's own pool size.
func NewDB(poolMaxSize int32) DB {
	return DB{
		DatabaseURL: "postgres://postgres@127.0.0.1:5432/vpnbot?sslmode=disable",
		PoolMaxSize: poolMaxSize,
	}
}

// Validate reports a setting that cannot work.
func (d DB) Validate() error {
	if d.DatabaseURL == "" {
		return errors.New("DATABASE_URL is empty")
	}
	if d.PoolMaxSize < 1 {
		return fmt.Errorf("DB_POOL_MAX_SIZE=%d: must be at least 1", d.PoolMaxSize)
	}
	return nil
}

// Validator is a configuration that can check itself after loading.
type Validator interface {
	Validate() error
}

// Load overlays the environment on cfg, which holds the service's defaults,
// and validates the result: its Base when cfg embeds one, and cfg itself
// when it implements Validator.
func Load[T any](cfg T) (T, error) {
	if err := env.Parse(&cfg); err != nil {
		return cfg, fmt.Errorf("reading configuration: %w", err)
	}
	var errs []error
	if b, ok := any(cfg).(interface{ BaseConfig() Base }); ok {
		errs = append(errs, b.BaseConfig().validate())
	}
	if v, ok := any(&cfg).(Validator); ok {
		errs = append(errs, v.Validate())
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, nil
}

// Fields flattens a configuration struct into environment-name → value pairs
// for the start-up log. Fields tagged `secret:"true"` are masked, whatever
// their type (a list of panels with their tokens is hidden whole); fields
// tagged `secret:"dsn"` keep everything but the password.
func Fields(cfg any) map[string]any {
	out := map[string]any{}
	walk(reflect.ValueOf(cfg), func(name string, f reflect.StructField, v reflect.Value) {
		switch f.Tag.Get("secret") {
		case "true":
			out[name] = maskValue(v)
		case "dsn":
			out[name] = RedactURL(v.String())
		default:
			out[name] = v.Interface()
		}
	})
	return out
}

// walk calls fn with each env-tagged field of the struct v (or *v) and its
// environment name, descending into untagged struct fields, embedded or not,
// as Load reads them.
func walk(v reflect.Value, fn func(name string, f reflect.StructField, v reflect.Value)) {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() {
			continue
		}
		name, ok := f.Tag.Lookup("env")
		if !ok {
			walk(fv, fn)
			continue
		}
		name, _, _ = strings.Cut(name, ",")
		fn(name, f, fv)
	}
}

// Mask hides a secret, telling only whether it is set.
func Mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

// maskValue is Mask for a value of any type: "***" when it is set, "" when
// it is zero or an empty list or map.
func maskValue(v reflect.Value) string {
	switch {
	case v.Kind() == reflect.String:
		return Mask(v.String())
	case v.IsZero(), (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0:
		return ""
	default:
		return "***"
	}
}

// RedactURL hides the password of a URL such as a DSN. A value that does not
// parse as a URL is masked whole, since it may be a key=value DSN with a password.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return Mask(s)
	}
	return u.Redacted()
}
