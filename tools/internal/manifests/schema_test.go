package manifests_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/vpnbot/vpnbot/tools/internal/manifests"
)

// typed are the Kubernetes API types of the kinds the manifests use, by
// apiVersion and kind.
var typed = map[string]func() any{
	"apps/v1 Deployment":                     func() any { return &appsv1.Deployment{} },
	"batch/v1 Job":                           func() any { return &batchv1.Job{} },
	"v1 Service":                             func() any { return &corev1.Service{} },
	"v1 ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1 Secret":                              func() any { return &corev1.Secret{} },
	"v1 Namespace":                           func() any { return &corev1.Namespace{} },
	"autoscaling/v2 HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1 PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1 Ingress":           func() any { return &networkingv1.Ingress{} },
}

// Without a cluster to validate against, each object is decoded strictly
// into its API type: a misspelt or misplaced field fails, as it would on
// `kubectl apply`. The custom resources (KEDA's ScaledObject, the Prometheus
// Operator's PodMonitor) have no type here; TestKustomizeBuildsHardenedProbedDeployments
// and TestPodMonitorScrapesEveryOpsPort check them.
func TestRenderedObjectsMatchTheKubernetesAPI(t *testing.T) {
	for _, dir := range []string{"deploy/k8s/base", "deploy/k8s/overlays/example"} {
		objs, err := manifests.Render(repoPath(t, dir))
		require.NoError(t, err)
		for _, o := range objs {
			key := o.APIVersion + " " + o.Kind
			if key == "keda.sh/v1alpha1 ScaledObject" || key == "monitoring.coreos.com/v1 PodMonitor" {
				continue
			}
			newObj, ok := typed[key]
			require.True(t, ok, "%s: unexpected %s %s", dir, key, o.Metadata.Name)
			require.NoError(t, decodeStrict(o.Raw, newObj()), "%s: %s %s", dir, key, o.Metadata.Name)
		}
	}
}

func TestStrictDecodingCatchesAMisspeltField(t *testing.T) {
	raw := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"spec":{"containers":[{"name":"x","readinesProbe":{}}]}}}}`)
	require.ErrorContains(t, decodeStrict(raw, &appsv1.Deployment{}), "readinesProbe")
}

func decodeStrict(raw []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}
