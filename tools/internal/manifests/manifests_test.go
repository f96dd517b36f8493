package manifests_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/vpnbot/vpnbot/tools/internal/manifests"
)

// services are the long-running services, each a Deployment and a compose
// service, with their ops ports (DESIGN §1).
var services = map[string]int{
	"gateway": 9101, "bot-handler": 9102, "reminders": 9103, "trial-notifier": 9104,
	"expiry-cleanup": 9105, "activation": 9106, "payment-watcher": 9107, "sender": 9108,
	"keyserver": 9109, "webapp": 9110,
}

// natsNodes are the NATS cluster of compose's cluster profile.
var natsNodes = []string{"nats-1", "nats-2", "nats-3"}

func repoPath(t *testing.T, rel string) string {
	t.Helper()
	root, err := filepath.Abs("../../..")
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "deploy/budget.yaml"), "the tests run inside the repository")
	return filepath.Join(root, rel)
}

func render(t *testing.T, rel string) map[string][]manifests.Object {
	t.Helper()
	objs, err := manifests.Render(repoPath(t, rel))
	require.NoError(t, err)
	byKind := map[string][]manifests.Object{}
	for _, o := range objs {
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	return byKind
}

func names(objs []manifests.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Metadata.Name)
	}
	return out
}

func TestKustomizeBuildsHardenedProbedDeployments(t *testing.T) {
	for _, dir := range []string{"deploy/k8s/base", "deploy/k8s/overlays/example"} {
		t.Run(dir, func(t *testing.T) {
			byKind := render(t, dir)
			require.Len(t, byKind["Deployment"], len(services))
			pdbs := map[string]bool{}
			for _, p := range byKind["PodDisruptionBudget"] {
				require.NotNil(t, p.Spec.Selector, "PDB %s", p.Metadata.Name)
				pdbs[p.Spec.Selector.MatchLabels["app.kubernetes.io/name"]] = true
			}
			for _, d := range byKind["Deployment"] {
				name := d.Metadata.Labels["app.kubernetes.io/name"]
				port, ok := services[name]
				require.True(t, ok, "unexpected Deployment %s", d.Metadata.Name)
				checkPod(t, name, port, d.Spec.Template.Spec)
				require.True(t, pdbs[name], "%s has no PodDisruptionBudget", name)
			}
			require.ElementsMatch(t, []string{"migrate"}, names(byKind["Job"]))
			job := byKind["Job"][0].Spec.Template.Spec
			require.True(t, *job.SecurityContext.RunAsNonRoot)
			checkContainerSecurity(t, "migrate", job.Containers[0])
			pool, ok := job.Containers[0].Var("DB_POOL_MAX_SIZE")
			require.True(t, ok)
			require.Equal(t, "1", *pool.Value)

			require.ElementsMatch(t, []string{"gateway", "keyserver", "webapp"}, names(byKind["Service"]))
			require.ElementsMatch(t, []string{"gateway"}, names(byKind["HorizontalPodAutoscaler"]))
			require.ElementsMatch(t, []string{"bot-handler"}, names(byKind["ScaledObject"]))
			require.Len(t, byKind["ConfigMap"], 1)
		})
	}
}

func TestExampleOverlayAddsIngressSecretsAndImages(t *testing.T) {
	byKind := render(t, "deploy/k8s/overlays/example")
	require.ElementsMatch(t, []string{"gateway", "keyserver", "webapp"}, names(byKind["Ingress"]))
	require.Len(t, byKind["Secret"], 1)
	secret := byKind["Secret"][0].Metadata.Name
	require.True(t, strings.HasPrefix(secret, "vpnbot-secrets-"), "generated with a hash suffix: %s", secret)
	require.Equal(t, "3", configValue(t, byKind, "STREAM_REPLICAS"), "every stream on the three nodes of the nats chart")
	require.Equal(t, "https://keys.example.com", configValue(t, byKind, "KEYSERVER_URL"),
		"Outline users get dynamic keys, from the host the keyserver's Ingress serves")
	for _, d := range byKind["Deployment"] {
		c := d.Spec.Template.Spec.Containers[0]
		require.True(t, strings.HasPrefix(c.Image, "registry.example.com/vpnbot/"), c.Image)
		// The secret references follow the generated name.
		for _, e := range c.Env {
			if len(e.ValueFrom) > 0 && strings.Contains(string(e.ValueFrom), "secretKeyRef") {
				require.Contains(t, string(e.ValueFrom), secret, "%s %s", d.Metadata.Name, e.Name)
			}
		}
	}
}

// configValue is a setting of the shared ConfigMap vpnbot-config.
func configValue(t *testing.T, byKind map[string][]manifests.Object, key string) string {
	t.Helper()
	for _, cm := range byKind["ConfigMap"] {
		if !strings.HasPrefix(cm.Metadata.Name, "vpnbot-config") {
			continue
		}
		var obj struct {
			Data map[string]string `json:"data"`
		}
		require.NoError(t, json.Unmarshal(cm.Raw, &obj))
		return obj.Data[key]
	}
	t.Fatal("no vpnbot-config ConfigMap")
	return ""
}

// checkPod asserts what every service's pod must have: probes on its ops
// port, the restricted security context, resources, the shared ConfigMap
// and, with a database, its pool size and DSN.
func checkPod(t *testing.T, name string, port int, pod manifests.PodSpec) {
	t.Helper()
	require.NotNil(t, pod.SecurityContext, name)
	require.True(t, *pod.SecurityContext.RunAsNonRoot, name)
	require.Len(t, pod.Containers, 1, name)
	c := pod.Containers[0]

	var ops int
	for _, p := range c.Ports {
		if p.Name == "ops" {
			ops = p.ContainerPort
		}
	}
	require.Equal(t, port, ops, "%s: the container port named ops", name)
	addr, ok := c.Var("OPS_ADDR")
	require.True(t, ok, name)
	require.Equal(t, fmt.Sprintf(":%d", port), *addr.Value, name)
	for probe, path := range map[*manifests.Probe]string{c.ReadinessProbe: "/readyz", c.LivenessProbe: "/livez"} {
		require.NotNil(t, probe, "%s: %s probe", name, path)
		require.NotNil(t, probe.HTTPGet, name)
		require.Equal(t, path, probe.HTTPGet.Path, name)
		require.JSONEq(t, `"ops"`, string(probe.HTTPGet.Port), name)
	}
	checkContainerSecurity(t, name, c)

	var res struct {
		Requests map[string]string `json:"requests"`
		Limits   map[string]string `json:"limits"`
	}
	raw, err := json.Marshal(c.Resources)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &res))
	require.NotEmpty(t, res.Requests["cpu"], "%s: cpu request (the HPA and the scheduler need it)", name)
	require.NotEmpty(t, res.Requests["memory"], name)
	require.NotEmpty(t, res.Limits["memory"], name)

	if name == "gateway" {
		_, hasDB := c.Var("DATABASE_URL")
		require.False(t, hasDB, "the gateway has no database")
		return
	}
	pool, ok := c.Var("DB_POOL_MAX_SIZE")
	require.True(t, ok, "%s: DB_POOL_MAX_SIZE", name)
	require.NotNil(t, pool.Value, name)
	dsn, ok := c.Var("DATABASE_URL")
	require.True(t, ok, name)
	require.Contains(t, string(dsn.ValueFrom), "secretKeyRef", "%s: the DSN holds a password", name)
}

func checkContainerSecurity(t *testing.T, name string, c manifests.Container) {
	t.Helper()
	sc := c.SecurityContext
	require.NotNil(t, sc, name)
	require.True(t, *sc.ReadOnlyRootFilesystem, name)
	require.False(t, *sc.AllowPrivilegeEscalation, name)
	require.NotNil(t, sc.Capabilities, name)
	require.Equal(t, []string{"ALL"}, sc.Capabilities.Drop, name)
}

func TestComposeRunsTheWholeSystem(t *testing.T) {
	c, err := manifests.LoadCompose(repoPath(t, "docker-compose.yml"))
	require.NoError(t, err)
	for _, infra := range []string{"postgres", "nats", "migrate", "prometheus", "grafana", "sandbox"} {
		require.Contains(t, c.Services, infra)
	}
	require.Contains(t, c.Services["nats"].CommandArgs(), "-js", "NATS runs with JetStream")

	migrate := c.Services["migrate"]
	require.Equal(t, "no", migrate.Restart, "migrate is a one-shot")
	require.Equal(t, "migrate", migrate.BuildArg("SERVICE"))

	for name, port := range services {
		s, ok := c.Services[name]
		require.True(t, ok, name)
		require.Equal(t, name, s.BuildArg("SERVICE"), name)
		env, err := s.Env()
		require.NoError(t, err, name)
		require.Equal(t, fmt.Sprintf(":%d", port), env["OPS_ADDR"], name)
		require.NotNil(t, s.Healthcheck, name)
		require.Equal(t, []string{"CMD", "/healthcheck", fmt.Sprintf("http://127.0.0.1:%d/readyz", port)}, s.Healthcheck.Test, name)
		deps := s.DependsOnConditions()
		require.Equal(t, "service_healthy", deps["nats"], name)
		for _, node := range natsNodes {
			require.Equal(t, "service_healthy", deps[node], "%s waits for %s when the cluster profile is on", name, node)
		}
		if name == "gateway" {
			require.NotContains(t, env, "DATABASE_URL")
			continue
		}
		require.Equal(t, "service_completed_successfully", deps["migrate"], "%s starts after the migrations", name)
		require.True(t, strings.HasPrefix(env["DATABASE_URL"], "postgres://"), "%s: DATABASE_URL of its own role", name)
		require.NotEmpty(t, env["DB_POOL_MAX_SIZE"], name)
	}

	require.Equal(t, []string{"sandbox"}, c.Services["sandbox"].Profiles)
	for _, node := range natsNodes {
		require.Equal(t, []string{"cluster"}, c.Services[node].Profiles, node)
		args := strings.Join(c.Services[node].CommandArgs(), " ")
		require.Contains(t, args, "-js", "%s runs JetStream", node)
		require.Contains(t, args, "--name "+node+" ", "%s has a name of its own", node)
		require.Contains(t, args, "--routes nats://nats-1:6222,nats://nats-2:6222,nats://nats-3:6222", "%s routes to every node", node)
	}
	for name, s := range c.Services {
		if name != "sandbox" && !slices.Contains(natsNodes, name) {
			require.Empty(t, s.Profiles, "%s runs without a profile", name)
		}
	}

	mounts := strings.Join(c.Services["prometheus"].Volumes, " ")
	require.Contains(t, mounts, "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml")
	require.Contains(t, mounts, "./deploy/prometheus/rules:/etc/prometheus/rules")
	mounts = strings.Join(c.Services["grafana"].Volumes, " ")
	require.Contains(t, mounts, "./deploy/grafana/provisioning:/etc/grafana/provisioning")
	require.Contains(t, mounts, "./deploy/grafana/dashboards:")
}

func TestPrometheusScrapesEveryOpsPort(t *testing.T) {
	data, err := os.ReadFile(repoPath(t, "deploy/prometheus/prometheus.yml"))
	require.NoError(t, err)
	var cfg struct {
		RuleFiles     []string `json:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(data, &cfg))
	require.Equal(t, []string{"/etc/prometheus/rules/*.yml"}, cfg.RuleFiles)
	targets := map[string]string{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				targets[target] = sc.JobName
			}
		}
	}
	want := map[string]string{}
	for name, port := range services {
		want[fmt.Sprintf("%s:%d", name, port)] = name
	}
	require.Equal(t, want, targets, "one job per service, named after it, on its ops port")
}

func TestPodMonitorScrapesEveryOpsPort(t *testing.T) {
	byKind := render(t, "deploy/k8s/overlays/example")
	require.Len(t, byKind["PodMonitor"], 1)
	var pm struct {
		Spec struct {
			JobLabel string `json:"jobLabel"`
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Endpoints []struct {
				Port string `json:"port"`
				Path string `json:"path"`
			} `json:"podMetricsEndpoints"`
		} `json:"spec"`
	}
	require.NoError(t, json.Unmarshal(byKind["PodMonitor"][0].Raw, &pm))
	// The job is the service's name, as the dashboards and alerts expect.
	require.Equal(t, "app.kubernetes.io/name", pm.Spec.JobLabel)
	require.Len(t, pm.Spec.Endpoints, 1)
	require.Equal(t, "ops", pm.Spec.Endpoints[0].Port)
	require.Equal(t, "/metrics", pm.Spec.Endpoints[0].Path)
	for _, d := range byKind["Deployment"] {
		pod := d.Spec.Template.Metadata.Labels
		for k, v := range pm.Spec.Selector.MatchLabels {
			require.Equal(t, v, pod[k], "the PodMonitor selects the pods of %s", d.Metadata.Name)
		}
		require.NotEmpty(t, pod["app.kubernetes.io/name"], d.Metadata.Name)
	}
}
