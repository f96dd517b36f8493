// Package budget checks the PostgreSQL connection budget (deploy/budget.yaml,
// DESIGN §4): that the services' pools, times their most replicas, plus the
// leader-election connections and the reserve, fit in max_connections, and
// that the Kubernetes manifests and the compose file run the services with
// the pools and replica maxima the budget counts.
package budget

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Budget is deploy/budget.yaml.
type Budget struct {
	Postgres Postgres           `json:"postgres"`
	Services map[string]Service `json:"services"`
}

// Postgres is the database side of the budget.
type Postgres struct {
	MaxConnections int `json:"max_connections"`
	Reserve        int `json:"reserve"`
}

// Service is one service's share.
type Service struct {
	// Pool is DB_POOL_MAX_SIZE; 0 for a service without a database.
	Pool int `json:"pool"`
	// MaxReplicas is the most replicas that may run at once.
	MaxReplicas int `json:"max_replicas"`
	// Election is the connections per replica outside the pool: 1 for a
	// replica that contends for leadership on a dedicated connection.
	Election int `json:"election"`
}

// Connections is the most connections the service may hold.
func (s Service) Connections() int { return (s.Pool + s.Election) * s.MaxReplicas }

// Load reads and validates the budget file; unknown fields are errors, so a
// misspelt key cannot silently count as zero.
func Load(path string) (Budget, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Budget{}, fmt.Errorf("reading the budget: %w", err)
	}
	var b Budget
	if err := yaml.UnmarshalStrict(data, &b); err != nil {
		return Budget{}, fmt.Errorf("parsing %s: %w", path, err)
	}
	if err := b.validate(); err != nil {
		return Budget{}, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

func (b Budget) validate() error {
	var errs []error
	if b.Postgres.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("postgres.max_connections=%d: must be positive", b.Postgres.MaxConnections))
	}
	if b.Postgres.Reserve < 0 {
		errs = append(errs, fmt.Errorf("postgres.reserve=%d: must not be negative", b.Postgres.Reserve))
	}
	if len(b.Services) == 0 {
		errs = append(errs, errors.New("services: none listed"))
	}
	for _, name := range b.Names() {
		s := b.Services[name]
		if s.Pool < 0 || s.Election < 0 {
			errs = append(errs, fmt.Errorf("%s: pool=%d, election=%d: must not be negative", name, s.Pool, s.Election))
		}
		if s.MaxReplicas < 1 {
			errs = append(errs, fmt.Errorf("%s: max_replicas=%d: must be at least 1", name, s.MaxReplicas))
		}
	}
	return errors.Join(errs...)
}

// Names returns the services' names, sorted.
func (b Budget) Names() []string {
	names := make([]string, 0, len(b.Services))
	for n := range b.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Total is the most connections all the services may hold together.
func (b Budget) Total() int {
	total := 0
	for _, s := range b.Services {
		total += s.Connections()
	}
	return total
}

// CheckSum fails when the services' connections plus the reserve exceed
// max_connections, naming every service's share.
func (b Budget) CheckSum() error {
	need := b.Total() + b.Postgres.Reserve
	if need <= b.Postgres.MaxConnections {
		return nil
	}
	shares := make([]string, 0, len(b.Services))
	for _, name := range b.Names() {
		if s := b.Services[name]; s.Connections() > 0 {
			shares = append(shares, fmt.Sprintf("%s %s", name, s.formula()))
		}
	}
	return fmt.Errorf("connection budget exceeded: services %d + reserve %d = %d > max_connections %d (%s)",
		b.Total(), b.Postgres.Reserve, need, b.Postgres.MaxConnections, strings.Join(shares, ", "))
}

// formula spells a service's share out: "(3 pool + 1 election) × 2 replicas = 8".
func (s Service) formula() string {
	if s.Election == 0 {
		return fmt.Sprintf("%d pool × %d replicas = %d", s.Pool, s.MaxReplicas, s.Connections())
	}
	return fmt.Sprintf("(%d pool + %d election) × %d replicas = %d", s.Pool, s.Election, s.MaxReplicas, s.Connections())
}

// Table renders the budget for the checker's output.
func (b Budget) Table() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-16s %5s %9s %13s %12s\n", "service", "pool", "election", "max replicas", "connections")
	for _, name := range b.Names() {
		s := b.Services[name]
		fmt.Fprintf(&sb, "%-16s %5d %9d %13d %12d\n", name, s.Pool, s.Election, s.MaxReplicas, s.Connections())
	}
	fmt.Fprintf(&sb, "services %d + reserve %d = %d of max_connections %d\n",
		b.Total(), b.Postgres.Reserve, b.Total()+b.Postgres.Reserve, b.Postgres.MaxConnections)
	return sb.String()
}
