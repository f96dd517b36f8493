package budget

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vpnbot/vpnbot/tools/internal/manifests"
)

// composePostgres is the compose service of the database.
const composePostgres = "postgres"

// CheckCompose compares the compose file with the budget: PostgreSQL's
// max_connections (its -c max_connections=N), and for every service of the
// budget its DB_POOL_MAX_SIZE, its replicas (deploy.replicas, 1 unless set,
// at most max_replicas: compose runs one host's worth) and its election.
func (b Budget) CheckCompose(where string, c manifests.Compose) []error {
	var errs []error
	if err := b.checkComposePostgres(c); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", where, err))
	}
	for _, name := range b.Names() {
		svc, ok := c.Services[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %s: in deploy/budget.yaml but not in the compose file", where, name))
			continue
		}
		for _, err := range b.checkComposeService(name, svc) {
			errs = append(errs, fmt.Errorf("%s: %s: %w", where, name, err))
		}
	}
	for _, name := range c.Names() {
		if _, budgeted := b.Services[name]; budgeted {
			continue
		}
		env, err := c.Services[name].Env()
		if err == nil && env["DB_POOL_MAX_SIZE"] != "" {
			errs = append(errs, fmt.Errorf("%s: %s: sets DB_POOL_MAX_SIZE=%s but has no share in deploy/budget.yaml", where, name, env["DB_POOL_MAX_SIZE"]))
		}
	}
	return errs
}

func (b Budget) checkComposePostgres(c manifests.Compose) error {
	pg, ok := c.Services[composePostgres]
	if !ok {
		return fmt.Errorf("no %q service", composePostgres)
	}
	for _, arg := range pg.CommandArgs() {
		v, ok := strings.CutPrefix(arg, "max_connections=")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("postgres: max_connections=%q: not a number", v)
		}
		if n != b.Postgres.MaxConnections {
			return fmt.Errorf("postgres: max_connections=%d, but deploy/budget.yaml says %d", n, b.Postgres.MaxConnections)
		}
		return nil
	}
	return fmt.Errorf("postgres: the command does not set max_connections (deploy/budget.yaml says %d): add -c max_connections=%d",
		b.Postgres.MaxConnections, b.Postgres.MaxConnections)
}

func (b Budget) checkComposeService(name string, svc manifests.ComposeService) []error {
	want := b.Services[name]
	env, err := svc.Env()
	if err != nil {
		return []error{err}
	}
	replicas := 1
	if svc.Deploy != nil && svc.Deploy.Replicas != nil {
		replicas = *svc.Deploy.Replicas
	}
	var errs []error
	switch pool, set := env["DB_POOL_MAX_SIZE"]; {
	case want.Pool == 0 && env["DATABASE_URL"] != "":
		errs = append(errs, errors.New("DATABASE_URL is set, but deploy/budget.yaml gives it pool 0 (no database)"))
	case want.Pool == 0:
	case !set:
		errs = append(errs, fmt.Errorf("DB_POOL_MAX_SIZE is not set, so the service's built-in default applies; deploy/budget.yaml says %d", want.Pool))
	case pool != strconv.Itoa(want.Pool):
		errs = append(errs, fmt.Errorf("DB_POOL_MAX_SIZE=%s × %d replicas, but deploy/budget.yaml gives it pool %d × %d = %d",
			pool, replicas, want.Pool, want.MaxReplicas, want.Pool*want.MaxReplicas))
	}
	if dsn, set := env["DATABASE_URL"]; set {
		if err := b.checkURLUser(name, dsn); err != nil {
			errs = append(errs, err)
		}
	}
	if replicas > want.MaxReplicas {
		errs = append(errs, fmt.Errorf("deploy.replicas %d × %d connections, above deploy/budget.yaml's max_replicas %d",
			replicas, want.Pool+want.Election, want.MaxReplicas))
	}
	if v, err := strconv.ParseBool(env["WORKER_SINGLETON"]); err == nil && v && want.Election == 0 {
		errs = append(errs, errors.New("WORKER_SINGLETON=true holds an election connection per replica, but deploy/budget.yaml says election 0"))
	}
	return errs
}
