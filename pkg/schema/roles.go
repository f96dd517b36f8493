package schema

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
)

// EventRoleApplied is logged once for each service role ApplyRoles brings
// up to date.
const EventRoleApplied = "DB_ROLE_APPLIED"

// DefaultRolePrefix starts every service role's name: vpnbot_bot_handler.
const DefaultRolePrefix = "vpnbot_"

// The privileges a role may hold on a table. SELECT comes with every write:
// an UPDATE's WHERE and an INSERT's RETURNING read the table too.
const (
	read         = "SELECT"
	insert       = "SELECT, INSERT"
	insertUpdate = "SELECT, INSERT, UPDATE"
	update       = "SELECT, UPDATE"
	// updateRemove deletes rows it first locks (SELECT ... FOR UPDATE SKIP
	// LOCKED, as pruning in batches does): the lock needs UPDATE.
	updateRemove = "SELECT, UPDATE, DELETE"
	readWrite    = "SELECT, INSERT, UPDATE, DELETE"
)

// Role is one service's PostgreSQL role: how many connections the database
// lets it open, and what it may do to which table of the schema.
type Role struct {
	// Service is the service's name, as in deploy/budget.yaml.
	Service string
	// ConnectionLimit is (pool + election) × max_replicas of the service's
	// share in deploy/budget.yaml; make check-budget keeps the two equal.
	ConnectionLimit int
	// Tables maps each table the service's SQL touches to its privileges.
	// UPDATE also covers SELECT ... FOR UPDATE and INSERT ... ON CONFLICT DO
	// UPDATE; a table a trigger writes is listed with the table that fires
	// it (an INSERT into ledger updates balances). Sequences follow: a role
	// that inserts into a table may draw from the table's own sequences.
	Tables map[string]string
}

// Roles are the service roles, one per service that uses the database.
// Gateway has none (pool 0); migrate runs as the schema's owner.
//
// Each service's tables are those its own SQL and the pkg/shop operations it
// calls name, read from the code and checked against the SQL its own test
// suite runs. Tests run services' real queries under their roles
// (pgdbtest's DB.As): the shop's operations here, the keyserver, the sender,
// the trial-notifier and the pruner in their own packages. A query that
// needs a privilege missing here fails in production with SQLSTATE 42501:
// when a service starts using a table, add it here.
var Roles = []Role{
	{Service: "activation", ConnectionLimit: 8, Tables: map[string]string{
		"balances": read, "notifications_sent": insert, "subscriptions": read, "users": update,
		"vpn_accesses": insertUpdate, "vpn_accounts": insertUpdate, "vpn_panels": readWrite,
	}},
	{Service: "bot-handler", ConnectionLimit: 40, Tables: map[string]string{
		"admin_audit": insert, "admin_inputs": readWrite, "admin_roles": readWrite, "auto_renewals": insertUpdate,
		"balances": insertUpdate, "broadcast_recipients": insert, "broadcasts": insertUpdate, "invoices": insertUpdate,
		"ledger": insert, "notifications_sent": insert, "plans": read, "processed_updates": insert,
		"promo_codes": insertUpdate, "promo_uses": insertUpdate, "referrals": insertUpdate, "sent_messages": read,
		"subscriptions": insertUpdate, "telegram_chat_pace": insertUpdate, "trials": insert, "user_notices": insert,
		"users": insertUpdate, "vpn_accesses": update, "vpn_accounts": update, "vpn_panels": read,
	}},
	{Service: "expiry-cleanup", ConnectionLimit: 8, Tables: map[string]string{
		"balances": read, "notifications_sent": readWrite, "processed_updates": updateRemove, "sent_messages": updateRemove,
		"subscriptions": update, "users": update, "vpn_accesses": insertUpdate, "vpn_accounts": insertUpdate,
	}},
	{Service: "keyserver", ConnectionLimit: 4, Tables: map[string]string{
		"subscriptions": read, "users": read, "vpn_accesses": read, "vpn_accounts": read,
	}},
	{Service: "payment-watcher", ConnectionLimit: 8, Tables: map[string]string{
		"balances": insertUpdate, "invoices": update, "ledger": insert, "notifications_sent": insert,
		"promo_codes": read, "promo_uses": update, "referrals": update, "subscriptions": insertUpdate,
		"trials": read, "users": update, "vpn_accesses": insertUpdate, "vpn_accounts": update,
	}},
	{Service: "reminders", ConnectionLimit: 6, Tables: map[string]string{
		"admin_audit": read, "auto_renewals": update, "balances": insertUpdate, "feed_events": insert,
		"feed_messages": insertUpdate, "feed_state": insertUpdate, "ledger": insertUpdate,
		"notifications_sent": readWrite, "plans": read, "subscriptions": insertUpdate, "users": update,
		"vpn_accesses": insertUpdate, "vpn_accounts": update,
	}},
	{Service: "sender", ConnectionLimit: 10, Tables: map[string]string{
		"broadcasts": read, "sent_messages": insert, "telegram_chat_pace": insertUpdate, "users": update,
	}},
	{Service: "trial-notifier", ConnectionLimit: 6, Tables: map[string]string{
		"notifications_sent": readWrite, "subscriptions": read, "trials": read, "user_notices": readWrite, "users": read,
	}},
	{Service: "webapp", ConnectionLimit: 4, Tables: map[string]string{
		"balances": insertUpdate, "invoices": insertUpdate, "ledger": insert, "notifications_sent": insert,
		"plans": read, "promo_codes": read, "promo_uses": update, "referrals": read, "subscriptions": insertUpdate,
		"trials": read, "users": read, "vpn_accesses": read, "vpn_accounts": read, "vpn_panels": read,
	}},
}

// RoleName is the role of service under prefix: vpnbot_payment_watcher.
func RoleName(prefix, service string) string {
	return prefix + strings.ReplaceAll(service, "-", "_")
}

// rolesLockID serialises migrators' role changes: roles are shared by the
// whole cluster, so two migrators creating one role would race.
const rolesLockID int64 = 0x76706e626f74726f // "vpnbotro"

// ApplyRoles makes every service role under prefix match Roles in the schema
// the pool's search_path points at: it creates a missing role (LOGIN, no
// password: the operator sets passwords), sets its CONNECTION LIMIT, and
// grants exactly the listed privileges, revoking any others on the schema's
// tables and sequences. It runs in one transaction, so a service never sees
// its grants half revoked, and is idempotent.
//
// The connecting user needs CREATEROLE and must own the schema's tables.
func ApplyRoles(ctx context.Context, pool *pgxpool.Pool, prefix string, log zerolog.Logger) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", rolesLockID); err != nil {
			return fmt.Errorf("taking the roles lock: %w", err)
		}
		var current *string
		if err := tx.QueryRow(ctx, "SELECT current_schema()").Scan(&current); err != nil {
			return fmt.Errorf("finding the schema to grant on: %w", err)
		}
		if current == nil {
			return fmt.Errorf("finding the schema to grant on: no schema of the search_path exists")
		}
		for _, r := range Roles {
			if err := applyRole(ctx, tx, *current, prefix, r, log); err != nil {
				return fmt.Errorf("role %s: %w", RoleName(prefix, r.Service), err)
			}
		}
		return nil
	})
}

func applyRole(ctx context.Context, tx pgx.Tx, schemaName, prefix string, r Role, log zerolog.Logger) error {
	name := RoleName(prefix, r.Service)
	role := pgx.Identifier{name}.Sanitize()
	nsp := pgx.Identifier{schemaName}.Sanitize()
	var previous *int
	err := tx.QueryRow(ctx, "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", name).Scan(&previous)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		_, err = tx.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN CONNECTION LIMIT %d", role, r.ConnectionLimit))
	case err == nil:
		_, err = tx.Exec(ctx, fmt.Sprintf("ALTER ROLE %s LOGIN CONNECTION LIMIT %d", role, r.ConnectionLimit))
	}
	if err != nil {
		return fmt.Errorf("setting its connection limit: %w", err)
	}
	stmts := []string{
		"GRANT USAGE ON SCHEMA " + nsp + " TO " + role,
		"REVOKE ALL ON ALL TABLES IN SCHEMA " + nsp + " FROM " + role,
		"REVOKE ALL ON ALL SEQUENCES IN SCHEMA " + nsp + " FROM " + role,
	}
	tables := make([]string, 0, len(r.Tables))
	for t := range r.Tables {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, t := range tables {
		stmts = append(stmts, fmt.Sprintf("GRANT %s ON TABLE %s TO %s", r.Tables[t], pgx.Identifier{schemaName, t}.Sanitize(), role))
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	sequences := 0
	for _, t := range tables {
		if !strings.Contains(r.Tables[t], "INSERT") {
			continue
		}
		seqs, err := ownedSequences(ctx, tx, schemaName, t)
		if err != nil {
			return err
		}
		for _, s := range seqs {
			if _, err := tx.Exec(ctx, "GRANT USAGE ON SEQUENCE "+pgx.Identifier{schemaName, s}.Sanitize()+" TO "+role); err != nil {
				return fmt.Errorf("granting sequence %s: %w", s, err)
			}
			sequences++
		}
	}
	ev := log.Info().Str("event", EventRoleApplied).Str("role", name).Str("role_service", r.Service).
		Str("schema", schemaName).Int("connection_limit", r.ConnectionLimit).
		Int("tables", len(tables)).Int("sequences", sequences)
	if previous == nil {
		ev = ev.Bool("created", true)
	} else if *previous != r.ConnectionLimit {
		ev = ev.Int("previous_connection_limit", *previous)
	}
	ev.Msgf("role %s: CONNECTION LIMIT %d, %d tables", name, r.ConnectionLimit, len(tables))
	return nil
}

// ownedSequences lists the sequences behind table's serial and identity
// columns. A listed table that does not exist is an error: Roles must follow
// the migrations.
func ownedSequences(ctx context.Context, tx pgx.Tx, schemaName, table string) ([]string, error) {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p'))`, schemaName, table).Scan(&exists); err != nil {
		return nil, fmt.Errorf("looking table %s up: %w", table, err)
	}
	if !exists {
		return nil, fmt.Errorf("table %s is granted but not in schema %s", table, schemaName)
	}
	rows, err := tx.Query(ctx, `SELECT s.relname FROM pg_class s
		JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.deptype IN ('a', 'i')
		JOIN pg_class t ON t.oid = d.refobjid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE s.relkind = 'S' AND n.nspname = $1 AND t.relname = $2
		ORDER BY s.relname`, schemaName, table)
	if err != nil {
		return nil, fmt.Errorf("listing the sequences of %s: %w", table, err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing the sequences of %s: %w", table, err)
	}
	return seqs, nil
}
