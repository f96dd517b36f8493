package budget_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/tools/internal/budget"
)

// repoRoot is the repository holding this module.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../../..")
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, budget.File), "the tests run inside the repository")
	return root
}

// copyRepo copies what the check reads into a temporary root, for a test
// to break.
func copyRepo(t *testing.T) string {
	t.Helper()
	src, dst := repoRoot(t), t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(dst, "deploy"), os.DirFS(filepath.Join(src, "deploy"))))
	data, err := os.ReadFile(filepath.Join(src, budget.ComposeFile))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dst, budget.ComposeFile), data, 0o644))
	return dst
}

// edit replaces old, which must occur exactly once, in the file at
// root/rel.
func edit(t *testing.T, root, rel, old, new string) {
	t.Helper()
	path := filepath.Join(root, rel)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(string(data), old), "%s must hold %q once", rel, old)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644))
}

func TestRepositoryAgreesWithItsBudget(t *testing.T) {
	b, err := budget.Check(repoRoot(t))
	require.NoError(t, err)
	// Every service that runs in production is budgeted.
	for _, s := range []string{"gateway", "bot-handler", "sender", "activation", "payment-watcher",
		"reminders", "trial-notifier", "expiry-cleanup", "keyserver", "webapp", "migrate"} {
		require.Contains(t, b.Services, s)
	}
	require.LessOrEqual(t, b.Total()+b.Postgres.Reserve, b.Postgres.MaxConnections)
	require.Positive(t, b.Postgres.Reserve)
	// The elected services hold their dedicated connection (pkg/pgdb Elector).
	require.Equal(t, 1, b.Services["sender"].Election)
	require.Equal(t, 1, b.Services["payment-watcher"].Election)
}

func TestPoolRaisedInManifestFailsNamingServiceAndNumbers(t *testing.T) {
	root := copyRepo(t)
	edit(t, root, "deploy/k8s/base/bot-handler.yaml",
		"- name: DB_POOL_MAX_SIZE\n              value: \"10\"",
		"- name: DB_POOL_MAX_SIZE\n              value: \"15\"")

	_, err := budget.Check(root)
	require.Error(t, err)
	msg := err.Error()
	// The base and the overlay built on it both disagree.
	for _, where := range []string{"deploy/k8s/base", "deploy/k8s/overlays/example"} {
		require.Contains(t, msg, where+": Deployment bot-handler: DB_POOL_MAX_SIZE=15 × 4 replicas = 60 connections, "+
			"but deploy/budget.yaml gives it pool 10 × 4 = 40")
	}
	require.NotContains(t, msg, "docker-compose.yml", "the compose file still agrees")
}

func TestPoolRaisedInComposeFails(t *testing.T) {
	root := copyRepo(t)
	edit(t, root, budget.ComposeFile, "OPS_ADDR: \":9108\"\n      DB_POOL_MAX_SIZE: \"4\"", "OPS_ADDR: \":9108\"\n      DB_POOL_MAX_SIZE: \"5\"")

	_, err := budget.Check(root)
	require.ErrorContains(t, err, "docker-compose.yml: sender: DB_POOL_MAX_SIZE=5 × 1 replicas, but deploy/budget.yaml gives it pool 4 × 2 = 8")
}

func TestBudgetOverMaxConnectionsFails(t *testing.T) {
	root := copyRepo(t)
	// Raised in the file and the manifests alike: they agree, but the sum
	// no longer fits.
	edit(t, root, budget.File, "  bot-handler:\n    pool: 10", "  bot-handler:\n    pool: 15")
	edit(t, root, "deploy/k8s/base/bot-handler.yaml",
		"- name: DB_POOL_MAX_SIZE\n              value: \"10\"", "- name: DB_POOL_MAX_SIZE\n              value: \"15\"")
	edit(t, root, budget.ComposeFile, "OPS_ADDR: \":9102\"\n      DB_POOL_MAX_SIZE: \"10\"", "OPS_ADDR: \":9102\"\n      DB_POOL_MAX_SIZE: \"15\"")

	_, err := budget.Check(root)
	require.Error(t, err)
	require.Contains(t, err.Error(), "connection budget exceeded: services 115 + reserve 10 = 125 > max_connections 110")
	require.Contains(t, err.Error(), "bot-handler 15 pool × 4 replicas = 60")
	require.Contains(t, err.Error(), "sender (4 pool + 1 election) × 2 replicas = 10")
	require.NotContains(t, err.Error(), "DB_POOL_MAX_SIZE=", "the manifests agree with the file")
}

func TestAutoscalerMaximumDisagreeingFails(t *testing.T) {
	root := copyRepo(t)
	edit(t, root, "deploy/k8s/base/bot-handler.yaml", "maxReplicaCount: 4", "maxReplicaCount: 8")
	edit(t, root, "deploy/k8s/base/gateway.yaml", "maxReplicas: 6", "maxReplicas: 10")

	_, err := budget.Check(root)
	require.Error(t, err)
	require.Contains(t, err.Error(), "deploy/k8s/base: Deployment bot-handler: ScaledObject maxReplicaCount allows 8 replicas × 10 connections = 80, "+
		"but deploy/budget.yaml says max_replicas 4 (40 connections)")
	require.Contains(t, err.Error(), "deploy/k8s/base: Deployment gateway: HorizontalPodAutoscaler maxReplicas allows 10 replicas")
}

func TestUnbudgetedElectionFails(t *testing.T) {
	root := copyRepo(t)
	edit(t, root, "deploy/k8s/base/reminders.yaml",
		"            - name: OPS_ADDR\n",
		"            - name: WORKER_SINGLETON\n              value: \"true\"\n            - name: OPS_ADDR\n")

	_, err := budget.Check(root)
	require.ErrorContains(t, err, "deploy/k8s/base: Deployment reminders: WORKER_SINGLETON=true holds an election connection per replica (2 more), but deploy/budget.yaml says election 0")
}

func TestComposeMaxConnectionsDisagreeingFails(t *testing.T) {
	root := copyRepo(t)
	edit(t, root, budget.ComposeFile, "max_connections=110", "max_connections=50")

	_, err := budget.Check(root)
	require.ErrorContains(t, err, "docker-compose.yml: postgres: max_connections=50, but deploy/budget.yaml says 110")
}

func TestMisspeltBudgetKeyFails(t *testing.T) {
	root := copyRepo(t)
	edit(t, root, budget.File, "  sender:\n    pool: 4", "  sender:\n    pools: 4")

	_, err := budget.Check(root)
	require.ErrorContains(t, err, "pools")
}

func TestRollingUpdateSurgeFails(t *testing.T) {
	root := copyRepo(t)
	edit(t, root, "deploy/k8s/base/pod-defaults.yaml", "maxSurge: 0", "maxSurge: 25%")

	_, err := budget.Check(root)
	require.Error(t, err)
	require.Contains(t, err.Error(), "deploy/k8s/base: Deployment bot-handler: a rolling update at 4 replicas surges 1 more pods × 10 connections, "+
		"which deploy/budget.yaml does not count: set maxSurge: 0")
	require.NotContains(t, err.Error(), "Deployment gateway: a rolling update", "the gateway holds no connection")
}
