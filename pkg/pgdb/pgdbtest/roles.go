package pgdbtest

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/schema"
)

// As returns a pool on the test's schema that logs in as service's role
// (schema.Roles), as the service does in production: its connection limit
// and only its grants. A test that runs a service's queries through it
// fails where the role lacks a privilege they need.
//
// The roles are made for this test alone, under a prefix of its own, and
// dropped when it ends. The server must let them log in without a password
// (the local one trusts every user).
func (d *DB) As(t testing.TB, service string) *pgxpool.Pool {
	t.Helper()
	d.rolesOnce.Do(func() { d.rolesErr = d.applyRoles(t) })
	if d.rolesErr != nil {
		t.Fatalf("creating the service roles: %v", d.rolesErr)
	}
	u, err := url.Parse(d.DSN)
	if err != nil {
		t.Fatalf("reading the test DSN: %v", err)
	}
	u.User = url.User(schema.RoleName(d.rolePrefix, service))
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatalf("opening a pool as %s: %v", service, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func (d *DB) applyRoles(t testing.TB) error {
	d.rolePrefix = "t" + randomHex(t, 4) + "_"
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	// Registered before any pool of the roles, so it runs after they close.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		for _, r := range schema.Roles {
			role := pgx.Identifier{schema.RoleName(d.rolePrefix, r.Service)}.Sanitize()
			if _, err := d.Pool.Exec(ctx, "DROP OWNED BY "+role+"; DROP ROLE "+role); err != nil {
				t.Errorf("dropping role %s: %v", role, err)
			}
		}
	})
	return schema.ApplyRoles(ctx, d.Pool, d.rolePrefix, zerolog.Nop())
}
