// Command check-budget checks the PostgreSQL connection budget
// (deploy/budget.yaml) against max_connections, the service roles migrate
// creates (pkg/schema Roles: each one's CONNECTION LIMIT), the Kubernetes
// manifests (kustomize build of deploy/k8s/base and every overlay) and
// docker-compose.yml, printing the budget when it holds and every
// disagreement, naming the service and the numbers, when it does not.
//
// With -database it also reads the roles of that server (pg_roles) and
// checks they exist with the budget's CONNECTION LIMITs.
//
//	cd tools && go run ./cmd/check-budget [-root ..] [-database postgres://…] [-role-prefix vpnbot_]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vpnbot/vpnbot/pkg/schema"
	"github.com/vpnbot/vpnbot/tools/internal/budget"
)

func main() {
	root := flag.String("root", "..", "the repository's root (the default suits running from tools/)")
	database := flag.String("database", "", "a server whose roles to check too (any user may read pg_roles)")
	prefix := flag.String("role-prefix", schema.DefaultRolePrefix, "the roles' prefix, migrate's DB_ROLE_PREFIX")
	flag.Parse()
	b, err := budget.Check(*root)
	if err == nil && *database != "" {
		err = checkDatabase(*database, *prefix)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "check-budget: FAIL")
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Print(b.Table())
	if *database != "" {
		fmt.Println("check-budget: ok — the server's roles, deploy/k8s and docker-compose.yml agree with deploy/budget.yaml")
		return
	}
	fmt.Println("check-budget: ok — the roles, deploy/k8s and docker-compose.yml agree with deploy/budget.yaml")
}

func checkDatabase(dsn, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connecting to check the roles: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	return budget.CheckLiveRoles(ctx, conn, prefix)
}
