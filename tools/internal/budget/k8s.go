package budget

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vpnbot/vpnbot/pkg/schema"
	"github.com/vpnbot/vpnbot/tools/internal/manifests"
)

// kedaDefaultMaxReplicas is KEDA's maxReplicaCount when a ScaledObject
// leaves it out.
const kedaDefaultMaxReplicas = 100

// nameLabel names the service of a workload; unlike metadata.name, a
// kustomize namePrefix leaves it alone.
const nameLabel = "app.kubernetes.io/name"

// workload is a Deployment or Job as the budget sees it.
type workload struct {
	kind      string
	service   string
	container manifests.Container
	replicas  int    // a Deployment's replicas, a Job's parallelism
	scaler    string // what bounds the replicas, for messages
	max       int    // the most replicas that may run
	surge     int    // the extra pods a rolling update at max starts
}

// CheckK8s compares the rendered objects of one kustomization (named where
// in messages) with the budget: each workload's DB_POOL_MAX_SIZE, its most
// replicas (the HPA's maxReplicas, the ScaledObject's maxReplicaCount, else
// the Deployment's replicas) and its leader election. Every service of the
// budget must have a workload there.
func (b Budget) CheckK8s(where string, objs []manifests.Object) []error {
	var errs []error
	found := map[string]bool{}
	for _, w := range workloads(objs) {
		found[w.service] = true
		errs = append(errs, b.checkWorkload(where, w)...)
	}
	for _, name := range b.Names() {
		if !found[name] {
			errs = append(errs, fmt.Errorf("%s: %s: in deploy/budget.yaml but no Deployment or Job runs it", where, name))
		}
	}
	return errs
}

func (b Budget) checkWorkload(where string, w workload) []error {
	prefix := fmt.Sprintf("%s: %s %s", where, w.kind, w.service)
	want, ok := b.Services[w.service]
	if !ok {
		if _, usesDB := w.container.Var("DATABASE_URL"); usesDB {
			return []error{fmt.Errorf("%s: connects to PostgreSQL but has no share in deploy/budget.yaml", prefix)}
		}
		return nil
	}
	var errs []error
	if err := checkPool(w.container, want, w.max); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", prefix, err))
	}
	if err := b.checkK8sURL(w); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", prefix, err))
	}
	if w.max != want.MaxReplicas {
		errs = append(errs, fmt.Errorf("%s: %s allows %d replicas × %d connections = %d, but deploy/budget.yaml says max_replicas %d (%d connections)",
			prefix, w.scaler, w.max, want.Pool+want.Election, w.max*(want.Pool+want.Election), want.MaxReplicas, want.Connections()))
	}
	if w.surge > 0 && want.Pool+want.Election > 0 {
		errs = append(errs, fmt.Errorf("%s: a rolling update at %d replicas surges %d more pods × %d connections, which deploy/budget.yaml does not count: set maxSurge: 0",
			prefix, w.max, w.surge, want.Pool+want.Election))
	}
	if w.replicas > w.max {
		errs = append(errs, fmt.Errorf("%s: %d replicas, above its maximum %d", prefix, w.replicas, w.max))
	}
	if singleton(w.container) && want.Election == 0 {
		errs = append(errs, fmt.Errorf("%s: WORKER_SINGLETON=true holds an election connection per replica (%d more), but deploy/budget.yaml says election 0",
			prefix, w.max))
	}
	return errs
}

// workloads collects the Deployments and Jobs with the replica bound that
// applies to each.
func workloads(objs []manifests.Object) []workload {
	hpaMax := map[string]int{}
	kedaMax := map[string]int{}
	for _, o := range objs {
		ref := o.Spec.ScaleTargetRef
		if ref.Kind != "" && ref.Kind != "Deployment" {
			continue
		}
		switch o.Kind {
		case "HorizontalPodAutoscaler":
			if o.Spec.MaxReplicas != nil {
				hpaMax[ref.Name] = *o.Spec.MaxReplicas
			}
		case "ScaledObject":
			kedaMax[ref.Name] = kedaDefaultMaxReplicas
			if o.Spec.MaxReplicaCount != nil {
				kedaMax[ref.Name] = *o.Spec.MaxReplicaCount
			}
		}
	}
	var ws []workload
	for _, o := range objs {
		if (o.Kind != "Deployment" && o.Kind != "Job") || len(o.Spec.Template.Spec.Containers) == 0 {
			continue
		}
		w := workload{kind: o.Kind, service: serviceName(o), container: o.Spec.Template.Spec.Containers[0], replicas: 1}
		switch {
		case o.Kind == "Job":
			if o.Spec.Parallelism != nil {
				w.replicas = *o.Spec.Parallelism
			}
			w.max, w.scaler = w.replicas, "parallelism"
		case hpaMax[o.Metadata.Name] > 0:
			w.max, w.scaler = hpaMax[o.Metadata.Name], "HorizontalPodAutoscaler maxReplicas"
		case kedaMax[o.Metadata.Name] > 0:
			w.max, w.scaler = kedaMax[o.Metadata.Name], "ScaledObject maxReplicaCount"
		}
		if o.Kind == "Deployment" {
			if o.Spec.Replicas != nil {
				w.replicas = *o.Spec.Replicas
			}
			if w.scaler == "" {
				w.max, w.scaler = w.replicas, "replicas"
			}
			w.surge = surge(o.Spec.Strategy, w.max)
		}
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].service < ws[j].service })
	return ws
}

// surge is how many pods above replicas a rolling update starts:
// Kubernetes' maxSurge, 25% (rounded up) unless set; none with Recreate.
func surge(st *manifests.Strategy, replicas int) int {
	pct := 25
	if st != nil {
		if st.Type == "Recreate" {
			return 0
		}
		if st.RollingUpdate != nil && len(st.RollingUpdate.MaxSurge) > 0 {
			var n int
			if json.Unmarshal(st.RollingUpdate.MaxSurge, &n) == nil {
				return n
			}
			var s string
			if json.Unmarshal(st.RollingUpdate.MaxSurge, &s) == nil {
				if p, err := strconv.Atoi(strings.TrimSuffix(s, "%")); err == nil {
					pct = p
				}
			}
		}
	}
	return (replicas*pct + 99) / 100
}

func serviceName(o manifests.Object) string {
	if n := o.Metadata.Labels[nameLabel]; n != "" {
		return n
	}
	return o.Metadata.Name
}

// checkPool compares the container's DB_POOL_MAX_SIZE with the budget's
// pool; a service budgeted without a database must not connect to one.
func checkPool(c manifests.Container, want Service, replicas int) error {
	if want.Pool == 0 {
		if _, ok := c.Var("DATABASE_URL"); ok {
			return errors.New("DATABASE_URL is set, but deploy/budget.yaml gives it pool 0 (no database)")
		}
		return nil
	}
	pool, err := literalInt(c, "DB_POOL_MAX_SIZE")
	if err != nil {
		return err
	}
	if pool != want.Pool {
		return fmt.Errorf("DB_POOL_MAX_SIZE=%d × %d replicas = %d connections, but deploy/budget.yaml gives it pool %d × %d = %d",
			pool, replicas, pool*replicas, want.Pool, want.MaxReplicas, want.Pool*want.MaxReplicas)
	}
	return nil
}

// literalInt reads an integer variable that must be written in the manifest
// itself: one taken from a ConfigMap could change without the check seeing it.
func literalInt(c manifests.Container, name string) (int, error) {
	e, ok := c.Var(name)
	switch {
	case !ok:
		return 0, fmt.Errorf("%s is not set, so the service's built-in default applies; set it to the budget's value", name)
	case e.Value == nil:
		return 0, fmt.Errorf("%s must be a literal value in the manifest, not taken from elsewhere", name)
	}
	n, err := strconv.Atoi(*e.Value)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: not a number", name, *e.Value)
	}
	return n, nil
}

func singleton(c manifests.Container) bool {
	e, ok := c.Var("WORKER_SINGLETON")
	if !ok || e.Value == nil {
		return false
	}
	v, err := strconv.ParseBool(*e.Value)
	return err == nil && v
}

// checkK8sURL checks that a service with a role of its own takes its
// DATABASE_URL from its own key of the Secret (SecretKey), which logs in as
// that role, or names the role in a literal URL.
func (b Budget) checkK8sURL(w workload) error {
	if _, ok := b.roleUser(w.service); !ok {
		return nil
	}
	e, ok := w.container.Var("DATABASE_URL")
	if !ok {
		return nil // checkPool reports a service with a pool and no database
	}
	if e.Value != nil {
		return b.checkURLUser(w.service, *e.Value)
	}
	var from struct {
		SecretKeyRef *struct {
			Key string `json:"key"`
		} `json:"secretKeyRef"`
	}
	if err := json.Unmarshal(e.ValueFrom, &from); err != nil || from.SecretKeyRef == nil {
		return fmt.Errorf("DATABASE_URL must come from the Secret's key %s, the URL of the service's own role", SecretKey(w.service))
	}
	if from.SecretKeyRef.Key != SecretKey(w.service) {
		return fmt.Errorf("DATABASE_URL comes from the Secret's key %s; it must be %s, the URL of the service's own role %s",
			from.SecretKeyRef.Key, SecretKey(w.service), schema.RoleName(schema.DefaultRolePrefix, w.service))
	}
	return nil
}
