package budget

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/vpnbot/vpnbot/pkg/schema"
)

// OwnerService is the budgeted service that connects as the schema's owner
// rather than a role of its own: migrate creates the tables and the roles.
const OwnerService = "migrate"

// SecretKey is the key of vpnbot-secrets holding a service's DATABASE_URL,
// which logs in as the service's role: DATABASE_URL_BOT_HANDLER.
func SecretKey(service string) string {
	return "DATABASE_URL_" + strings.ToUpper(strings.ReplaceAll(service, "-", "_"))
}

// CheckRoles compares the roles migrate creates (schema.Roles) with the
// budget: every service with a pool, but the owner, has a role, and its
// CONNECTION LIMIT is the service's (pool + election) × max_replicas; no role
// belongs to a service the budget gives no connections.
func (b Budget) CheckRoles(roles []schema.Role) []error {
	var errs []error
	byService := map[string]schema.Role{}
	for _, r := range roles {
		if _, dup := byService[r.Service]; dup {
			errs = append(errs, fmt.Errorf("pkg/schema Roles: %s is listed twice", r.Service))
		}
		byService[r.Service] = r
		s, ok := b.Services[r.Service]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("pkg/schema Roles: %s has a role but no share in deploy/budget.yaml", r.Service))
		case s.Connections() == 0:
			errs = append(errs, fmt.Errorf("pkg/schema Roles: %s has a role, but deploy/budget.yaml gives it no connections", r.Service))
		case r.ConnectionLimit != s.Connections():
			errs = append(errs, fmt.Errorf("pkg/schema Roles: %s: CONNECTION LIMIT %d, but deploy/budget.yaml gives it %s: set ConnectionLimit to %d",
				r.Service, r.ConnectionLimit, s.formula(), s.Connections()))
		}
	}
	for _, name := range b.Names() {
		if _, ok := byService[name]; !ok && name != OwnerService && b.Services[name].Connections() > 0 {
			errs = append(errs, fmt.Errorf("pkg/schema Roles: %s: has %d connections in deploy/budget.yaml but no role to hold them to it",
				name, b.Services[name].Connections()))
		}
	}
	return errs
}

// roleUser is the user a service's DATABASE_URL must log in as, and whether
// it has one (the owner and the services without a database have none).
func (b Budget) roleUser(service string) (string, bool) {
	if service == OwnerService || b.Services[service].Connections() == 0 {
		return "", false
	}
	return schema.RoleName(schema.DefaultRolePrefix, service), true
}

// checkURLUser checks that a literal DATABASE_URL logs in as the service's role.
func (b Budget) checkURLUser(service, dsn string) error {
	want, ok := b.roleUser(service)
	if !ok {
		return nil
	}
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return fmt.Errorf("DATABASE_URL names no user; it must log in as %s, the role whose CONNECTION LIMIT holds the service to its budget", want)
	}
	if got := u.User.Username(); got != want {
		return fmt.Errorf("DATABASE_URL logs in as %s; it must log in as %s, the role whose CONNECTION LIMIT holds the service to its budget", got, want)
	}
	return nil
}

// CheckLiveRoles compares the roles of a running server with schema.Roles
// under prefix: each exists, may log in, is no superuser (CONNECTION LIMIT
// does not bind one) and has the budget's limit.
func CheckLiveRoles(ctx context.Context, conn *pgx.Conn, prefix string) error {
	var errs []error
	for _, r := range schema.Roles {
		name := schema.RoleName(prefix, r.Service)
		var limit int
		var login, super bool
		err := conn.QueryRow(ctx, "SELECT rolconnlimit, rolcanlogin, rolsuper FROM pg_roles WHERE rolname = $1", name).
			Scan(&limit, &login, &super)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			errs = append(errs, fmt.Errorf("role %s: missing (run migrate)", name))
			continue
		case err != nil:
			return fmt.Errorf("reading role %s: %w", name, err)
		}
		if limit != r.ConnectionLimit {
			errs = append(errs, fmt.Errorf("role %s: CONNECTION LIMIT %d, but the budget gives %s %d (run migrate)", name, limit, r.Service, r.ConnectionLimit))
		}
		if !login {
			errs = append(errs, fmt.Errorf("role %s: cannot log in (run migrate)", name))
		}
		if super {
			errs = append(errs, fmt.Errorf("role %s: a superuser, whom no CONNECTION LIMIT binds", name))
		}
	}
	return errors.Join(errs...)
}
