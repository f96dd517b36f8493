package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/ssconf"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/cleanup"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/prune"
)

// defaultInterval is the polling interval: an access outlives its period's
// expiry + grace by at most about this long while the panel answers.
const defaultInterval = time.Minute

// pruneBudgetShare is the share of an iteration's timeout a pruning pass
// may spend starting batches: the revocations come first.
const pruneBudgetShare = 4

// claimMargin is how much longer than an iteration's timeout a revocation
// claim keeps other replicas off a period.
const claimMargin = 30 * time.Second

// Config is the expiry-cleanup worker's configuration, read once from the
// environment.
type Config struct {
	config.Base
	config.DB
	worker.Env
	// Grace is how long an expired period keeps its access.
	Grace time.Duration `env:"EXPIRY_GRACE"`
	// Concurrency is how many revocations an iteration makes at once.
	Concurrency int `env:"EXPIRY_CONCURRENCY"`
	// BatchSize is how many expired periods one iteration takes.
	BatchSize int `env:"EXPIRY_BATCH_SIZE"`
	// ReconcileEvery makes every n-th iteration a reconciliation with the panel.
	ReconcileEvery int `env:"RECONCILE_EVERY"`
	// OrphanMinAge is how long a panel access must stay unbacked before
	// reconciliation revokes it.
	OrphanMinAge time.Duration `env:"RECONCILE_ORPHAN_MIN_AGE"`

	// SentMessagesRetention, ProcessedUpdatesRetention and
	// NotificationsSentRetention are how long the sender's sent-log, the
	// bot-handler's inbox and, counted from their period's revocation, the
	// workers' once-only records are kept (see internal/prune).
	SentMessagesRetention      time.Duration `env:"PRUNE_SENT_MESSAGES_RETENTION"`
	ProcessedUpdatesRetention  time.Duration `env:"PRUNE_PROCESSED_UPDATES_RETENTION"`
	NotificationsSentRetention time.Duration `env:"PRUNE_NOTIFICATIONS_SENT_RETENTION"`
	// PruneBatchSize is how many rows one pruning statement deletes at most.
	PruneBatchSize int `env:"PRUNE_BATCH_SIZE"`
	// PruneInterval is how often each replica runs a pruning pass.
	PruneInterval time.Duration `env:"PRUNE_INTERVAL"`

	vpn.PanelEnv
	// Keys is activation's setting of the same name: an account gone from
	// the panel is activated again here, and its user keeps their dynamic
	// key.
	Keys ssconf.Settings
}

func defaultConfig() Config {
	return Config{
		Base:           config.NewBase(":9105"),
		DB:             config.NewDB(4),
		Env:            worker.NewEnv(defaultInterval),
		Grace:          cleanup.DefaultGrace,
		Concurrency:    cleanup.DefaultConcurrency,
		BatchSize:      cleanup.DefaultBatchSize,
		ReconcileEvery: cleanup.DefaultReconcileEvery,
		OrphanMinAge:   cleanup.DefaultOrphanMinAge,

		SentMessagesRetention:      prune.DefaultRetention,
		ProcessedUpdatesRetention:  prune.DefaultRetention,
		NotificationsSentRetention: prune.DefaultRetention,
		PruneBatchSize:             prune.DefaultBatchSize,
		PruneInterval:              prune.DefaultEvery,

		PanelEnv: vpn.NewPanelEnv(),
		Keys:     ssconf.DefaultSettings(),
	}
}

// Validate reports the settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.DB.Validate(), c.Env.Validate(), c.PanelEnv.Validate(), c.Keys.Validate()}
	if c.Grace <= 0 {
		errs = append(errs, fmt.Errorf("EXPIRY_GRACE=%s: must be positive", c.Grace))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("EXPIRY_CONCURRENCY=%d: must be at least 1", c.Concurrency))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("EXPIRY_BATCH_SIZE=%d: must be at least 1", c.BatchSize))
	}
	if c.ReconcileEvery < 1 {
		errs = append(errs, fmt.Errorf("RECONCILE_EVERY=%d: must be at least 1", c.ReconcileEvery))
	}
	// Shorter than an activation's create-then-record, and reconciliation
	// could revoke a key just handed out.
	if c.OrphanMinAge < time.Minute {
		errs = append(errs, fmt.Errorf("RECONCILE_ORPHAN_MIN_AGE=%s: must be at least 1m", c.OrphanMinAge))
	}
	for name, r := range map[string]time.Duration{
		"PRUNE_SENT_MESSAGES_RETENTION":      c.SentMessagesRetention,
		"PRUNE_PROCESSED_UPDATES_RETENTION":  c.ProcessedUpdatesRetention,
		"PRUNE_NOTIFICATIONS_SENT_RETENTION": c.NotificationsSentRetention,
	} {
		if r < prune.MinRetention {
			errs = append(errs, fmt.Errorf("%s=%s: must be at least %s (a dead letter can be replayed for 14 days)", name, r, prune.MinRetention))
		}
	}
	if c.PruneBatchSize < 1 {
		errs = append(errs, fmt.Errorf("PRUNE_BATCH_SIZE=%d: must be at least 1", c.PruneBatchSize))
	}
	if c.PruneInterval <= 0 {
		errs = append(errs, fmt.Errorf("PRUNE_INTERVAL=%s: must be positive", c.PruneInterval))
	}
	// A panel call is bounded by both; the iteration's timeout must leave
	// room for at least one.
	if c.IterationTimeout > 0 && c.PanelTimeout >= c.IterationTimeout {
		errs = append(errs, fmt.Errorf("VPN_PANEL_TIMEOUT=%s: must be below WORKER_ITERATION_TIMEOUT=%s", c.PanelTimeout, c.IterationTimeout))
	}
	return errors.Join(errs...)
}

// cleanupConfig is the iteration's part of the configuration.
func (c Config) cleanupConfig() cleanup.Config {
	return cleanup.Config{
		Grace:          c.Grace,
		Concurrency:    c.Concurrency,
		BatchSize:      c.BatchSize,
		ReconcileEvery: c.ReconcileEvery,
		OrphanMinAge:   c.OrphanMinAge,
		ClaimTTL:       c.IterationTimeout + claimMargin,
	}
}

// pruneConfig is the pruning pass's part of the configuration.
func (c Config) pruneConfig() prune.Config {
	return prune.Config{
		SentMessages:      c.SentMessagesRetention,
		ProcessedUpdates:  c.ProcessedUpdatesRetention,
		NotificationsSent: c.NotificationsSentRetention,
		BatchSize:         c.PruneBatchSize,
		Every:             c.PruneInterval,
		Budget:            c.IterationTimeout / pruneBudgetShare,
	}
}
