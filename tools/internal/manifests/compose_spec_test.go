package manifests_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/stretchr/testify/require"
)

// loadWithCompose loads the compose file as `docker compose` does (the
// compose-spec loader: schema validation, interpolation, merge keys),
// with the environment given and nothing from the shell.
func loadWithCompose(t *testing.T, file string, env []string, envFiles ...string) (map[string]map[string]*string, error) {
	t.Helper()
	return loadProfiles(t, file, []string{"sandbox"}, env, envFiles...)
}

// loadProfiles is loadWithCompose with the profiles given on.
func loadProfiles(t *testing.T, file string, profiles, env []string, envFiles ...string) (map[string]map[string]*string, error) {
	t.Helper()
	options := []cli.ProjectOptionsFn{cli.WithName("vpnbot"), cli.WithEnv(env), cli.WithProfiles(profiles)}
	if len(envFiles) > 0 {
		// WithDotEnv reads the files; without any it would read a .env
		// from the working directory.
		options = append(options, cli.WithEnvFiles(envFiles...), cli.WithDotEnv)
	}
	opts, err := cli.NewProjectOptions([]string{file}, options...)
	require.NoError(t, err)
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		return nil, err
	}
	envs := map[string]map[string]*string{}
	for name, s := range p.Services {
		envs[name] = s.Environment
	}
	return envs, nil
}

func TestComposeFileIsValidForDockerCompose(t *testing.T) {
	envs, err := loadWithCompose(t, repoPath(t, "docker-compose.yml"), nil, repoPath(t, "deploy/compose/sandbox.env"))
	require.NoError(t, err)
	require.Len(t, envs, len(services)+7, "the services, postgres, nats, migrate, sandbox, prometheus, grafana, jaeger")
	// deploy/compose/sandbox.env points every service at the sandbox.
	require.Equal(t, "http://sandbox:8080", *envs["bot-handler"]["TELEGRAM_API_URL"])
	require.Equal(t, "http://sandbox:8082", *envs["payment-watcher"]["CRYPTOPAY_API_URL"])
	require.Equal(t, "http://sandbox:8083", *envs["activation"]["REMNAWAVE_URL"])
	require.Equal(t, *envs["gateway"]["TELEGRAM_BOT_TOKEN"], *envs["sandbox"]["TELEGRAM_BOT_TOKEN"])
	require.NotContains(t, envs["gateway"], "DATABASE_URL")
	require.Contains(t, envs["sender"], "DATABASE_URL")
}

// The cluster profile and its env file put the services on three NATS nodes
// with every stream on all three; without them, on the one node, once.
func TestComposeClusterProfileKeepsStreamsOnThreeNodes(t *testing.T) {
	envs, err := loadWithCompose(t, repoPath(t, "docker-compose.yml"), nil, repoPath(t, "deploy/compose/sandbox.env"))
	require.NoError(t, err)
	require.Equal(t, "nats://nats:4222", *envs["gateway"]["NATS_URL"])
	require.Equal(t, "1", *envs["gateway"]["STREAM_REPLICAS"])
	require.NotContains(t, envs, "nats-1", "the cluster is a profile of its own")

	envs, err = loadProfiles(t, repoPath(t, "docker-compose.yml"), []string{"sandbox", "cluster"}, nil,
		repoPath(t, "deploy/compose/sandbox.env"), repoPath(t, "deploy/compose/cluster.env"))
	require.NoError(t, err)
	require.Len(t, envs, len(services)+10, "the services, postgres, nats, migrate, sandbox, prometheus, grafana, jaeger and three NATS nodes")
	for name := range services {
		require.Equal(t, "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222", *envs[name]["NATS_URL"], name)
		require.Equal(t, "3", *envs[name]["STREAM_REPLICAS"], name)
	}
	require.Equal(t, "http://sandbox:8080", *envs["bot-handler"]["TELEGRAM_API_URL"], "the env files add up")
}

func TestComposeDemandsTheSecrets(t *testing.T) {
	_, err := loadWithCompose(t, repoPath(t, "docker-compose.yml"), nil)
	require.ErrorContains(t, err, "TELEGRAM_BOT_TOKEN")
}

// The loader validates against the compose schema: a misspelt key fails.
func TestComposeLoaderRejectsUnknownKeys(t *testing.T) {
	data, err := os.ReadFile(repoPath(t, "docker-compose.yml"))
	require.NoError(t, err)
	broken := strings.Replace(string(data), `restart: "no"`, `restarts: "no"`, 1)
	require.NotEqual(t, string(data), broken)
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	require.NoError(t, os.WriteFile(file, []byte(broken), 0o644))

	_, err = loadWithCompose(t, file, nil, repoPath(t, "deploy/compose/sandbox.env"))
	require.ErrorContains(t, err, "services.migrate.restarts")
}
