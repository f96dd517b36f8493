package manifests

import (
	"encoding/json"
	"fmt"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Object is one rendered Kubernetes object, with the fields the checks read.
type Object struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
	// Raw is the whole object as JSON, for checks of the fields not above.
	Raw json.RawMessage `json:"-"`
}

// Metadata is an object's metadata.
type Metadata struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

// Spec holds the spec fields of the kinds checked: Deployment, Job,
// HorizontalPodAutoscaler, KEDA ScaledObject, PodDisruptionBudget.
type Spec struct {
	Replicas        *int         `json:"replicas"`
	Parallelism     *int         `json:"parallelism"`
	Template        PodTemplate  `json:"template"`
	ScaleTargetRef  TargetRef    `json:"scaleTargetRef"`
	MaxReplicas     *int         `json:"maxReplicas"`
	MaxReplicaCount *int         `json:"maxReplicaCount"`
	Selector        *PodSelector `json:"selector"`
	Strategy        *Strategy    `json:"strategy"`
}

// Strategy is a Deployment's update strategy.
type Strategy struct {
	Type          string `json:"type"`
	RollingUpdate *struct {
		// MaxSurge is a number or a percentage ("25%").
		MaxSurge json.RawMessage `json:"maxSurge"`
	} `json:"rollingUpdate"`
}

// TargetRef is an autoscaler's scaleTargetRef.
type TargetRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// PodSelector is a label selector.
type PodSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

// PodTemplate is a workload's pod template.
type PodTemplate struct {
	Metadata Metadata `json:"metadata"`
	Spec     PodSpec  `json:"spec"`
}

// PodSpec is a pod's spec.
type PodSpec struct {
	SecurityContext *PodSecurityContext `json:"securityContext"`
	Containers      []Container         `json:"containers"`
}

// PodSecurityContext is a pod's security context.
type PodSecurityContext struct {
	RunAsNonRoot *bool `json:"runAsNonRoot"`
}

// Container is one container of a pod.
type Container struct {
	Name            string                 `json:"name"`
	Image           string                 `json:"image"`
	Env             []EnvVar               `json:"env"`
	Ports           []ContainerPort        `json:"ports"`
	ReadinessProbe  *Probe                 `json:"readinessProbe"`
	LivenessProbe   *Probe                 `json:"livenessProbe"`
	SecurityContext *ContainerSecurity     `json:"securityContext"`
	Resources       map[string]interface{} `json:"resources"`
}

// EnvVar is a container's environment variable: a literal Value, or
// ValueFrom a ConfigMap or Secret.
type EnvVar struct {
	Name      string          `json:"name"`
	Value     *string         `json:"value"`
	ValueFrom json.RawMessage `json:"valueFrom"`
}

// ContainerPort is a port a container exposes.
type ContainerPort struct {
	Name          string `json:"name"`
	ContainerPort int    `json:"containerPort"`
}

// Probe is an HTTP probe (the only kind the manifests use).
type Probe struct {
	HTTPGet *struct {
		Path string          `json:"path"`
		Port json.RawMessage `json:"port"`
	} `json:"httpGet"`
}

// ContainerSecurity is a container's security context.
type ContainerSecurity struct {
	ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
	Capabilities             *struct {
		Drop []string `json:"drop"`
	} `json:"capabilities"`
}

// Var returns the container's variable name and whether it is set.
func (c Container) Var(name string) (EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return EnvVar{}, false
}

// Render builds the kustomization in dir, as `kubectl kustomize dir` does,
// and decodes every object it yields.
func Render(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	objs := make([]Object, 0, res.Size())
	for _, r := range res.Resources() {
		m, err := r.Map()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		var o Object
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, fmt.Errorf("decoding %s from %s: %w", r.CurId(), dir, err)
		}
		o.Raw = raw
		objs = append(objs, o)
	}
	return objs, nil
}
