package schema

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/rs/zerolog"
)

// EventMigrationApplied is logged once for each migration applied.
const EventMigrationApplied = "MIGRATION_APPLIED"

// lockWaitSeconds is how long Migrate waits for another migrator of the same
// schema to finish (probing every second) before giving up.
const lockWaitSeconds = 300

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the schema the pool's search_path points at up to the latest
// migration, logging MIGRATION_APPLIED for each one it applies. It is
// idempotent, and safe to run from several processes at once: they take turns
// under an advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log zerolog.Logger) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("reading the embedded migrations: %w", err)
	}
	var current *string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&current); err != nil {
		return fmt.Errorf("finding the schema to migrate: %w", err)
	}
	if current == nil {
		return errors.New("finding the schema to migrate: no schema of the search_path exists")
	}
	// The lock is per schema: migrators of one schema take turns, while tests
	// migrating their own schemas in parallel do not wait on each other.
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(lockID(*current)),
		lock.WithLockTimeout(1, lockWaitSeconds),
	)
	if err != nil {
		return fmt.Errorf("creating the migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close() // closes the database/sql handle only; the pool stays open
	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("loading the migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if partial, ok := errors.AsType[*goose.PartialError](err); ok {
		results = partial.Applied
	}
	for _, r := range results {
		log.Info().Str("event", EventMigrationApplied).Int64("version", r.Source.Version).
			Str("file", path.Base(r.Source.Path)).Str("schema", *current).Dur("duration", r.Duration).
			Msg("migration applied")
	}
	if err != nil {
		return fmt.Errorf("applying migrations to schema %s: %w", *current, err)
	}
	version, err := provider.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	log.Info().Str("schema", *current).Int64("version", version).Int("applied", len(results)).
		Msg("schema up to date")
	return nil
}

// lockID derives the migration lock of a schema from its name.
func lockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("vpnbot schema migrations: " + schema))
	return int64(h.Sum64())
}
