package manifests

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Compose is a docker-compose file, with the fields the checks read.
type Compose struct {
	Services map[string]ComposeService `json:"services"`
	Volumes  map[string]interface{}    `json:"volumes"`
}

// ComposeService is one service of a compose file.
type ComposeService struct {
	Image       string          `json:"image"`
	Build       json.RawMessage `json:"build"`
	Command     json.RawMessage `json:"command"`
	Environment json.RawMessage `json:"environment"`
	DependsOn   json.RawMessage `json:"depends_on"`
	Healthcheck *struct {
		Test []string `json:"test"`
	} `json:"healthcheck"`
	Profiles []string `json:"profiles"`
	Restart  string   `json:"restart"`
	Volumes  []string `json:"volumes"`
	Deploy   *struct {
		Replicas *int `json:"replicas"`
	} `json:"deploy"`
}

// LoadCompose parses the compose file at path. Anchors and merge keys are
// resolved; ${VAR:-default} interpolations are left as written.
func LoadCompose(path string) (Compose, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Compose{}, fmt.Errorf("reading the compose file: %w", err)
	}
	var c Compose
	if err := yaml.Unmarshal(data, &c); err != nil {
		return Compose{}, fmt.Errorf("parsing %s: %w", path, err)
	}
	if len(c.Services) == 0 {
		return Compose{}, fmt.Errorf("parsing %s: no services", path)
	}
	return c, nil
}

// Env returns the service's environment: compose allows a map (values of
// any scalar type, null for "from the shell") or a list of NAME=VALUE.
func (s ComposeService) Env() (map[string]string, error) {
	env := map[string]string{}
	if len(s.Environment) == 0 {
		return env, nil
	}
	var m map[string]interface{}
	if err := json.Unmarshal(s.Environment, &m); err == nil {
		for k, v := range m {
			if v == nil {
				env[k] = ""
				continue
			}
			env[k] = fmt.Sprint(v)
		}
		return env, nil
	}
	var list []string
	if err := json.Unmarshal(s.Environment, &list); err != nil {
		return nil, fmt.Errorf("environment is neither a map nor a list: %w", err)
	}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env, nil
}

// CommandArgs returns the service's command as a list: a string command is
// split on spaces, as the checks need no shell quoting.
func (s ComposeService) CommandArgs() []string {
	var list []string
	if json.Unmarshal(s.Command, &list) == nil {
		return list
	}
	var str string
	if json.Unmarshal(s.Command, &str) == nil {
		return strings.Fields(str)
	}
	return nil
}

// DependsOnConditions returns each dependency's condition; the short list
// form means service_started.
func (s ComposeService) DependsOnConditions() map[string]string {
	deps := map[string]string{}
	var list []string
	if json.Unmarshal(s.DependsOn, &list) == nil {
		for _, d := range list {
			deps[d] = "service_started"
		}
		return deps
	}
	var m map[string]struct {
		Condition string `json:"condition"`
	}
	if json.Unmarshal(s.DependsOn, &m) == nil {
		for d, c := range m {
			cond := c.Condition
			if cond == "" {
				cond = "service_started"
			}
			deps[d] = cond
		}
	}
	return deps
}

// BuildArg returns the build argument name, when the service is built with
// the long form of build (context and args).
func (s ComposeService) BuildArg(name string) string {
	var b struct {
		Args map[string]string `json:"args"`
	}
	if json.Unmarshal(s.Build, &b) != nil {
		return ""
	}
	return b.Args[name]
}

// Names returns the service names, sorted.
func (c Compose) Names() []string {
	names := make([]string, 0, len(c.Services))
	for n := range c.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
