package budget

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vpnbot/vpnbot/pkg/schema"
	"github.com/vpnbot/vpnbot/tools/internal/manifests"
)

// Paths of what the check reads, relative to the repository's root.
const (
	File        = "deploy/budget.yaml"
	ComposeFile = "docker-compose.yml"
	K8sBase     = "deploy/k8s/base"
	K8sOverlays = "deploy/k8s/overlays"
)

// Check loads the budget under root and checks it whole: the sum against
// max_connections, the service roles migrate creates, the compose file, and
// the kustomize build of the base and of every overlay. It returns the budget (for its table) and every
// disagreement found.
func Check(root string) (Budget, error) {
	b, err := Load(filepath.Join(root, File))
	if err != nil {
		return Budget{}, err
	}
	errs := append([]error{b.CheckSum()}, b.CheckRoles(schema.Roles)...)
	c, err := manifests.LoadCompose(filepath.Join(root, ComposeFile))
	if err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, b.CheckCompose(ComposeFile, c)...)
	}
	dirs, err := Kustomizations(root)
	if err != nil {
		return b, errors.Join(append(errs, err)...)
	}
	for _, dir := range dirs {
		objs, err := manifests.Render(filepath.Join(root, dir))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, b.CheckK8s(dir, objs)...)
	}
	return b, errors.Join(errs...)
}

// Kustomizations lists the base and every overlay, relative to root.
func Kustomizations(root string) ([]string, error) {
	dirs := []string{K8sBase}
	entries, err := os.ReadDir(filepath.Join(root, K8sOverlays))
	if err != nil {
		return nil, fmt.Errorf("listing the overlays: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.ToSlash(filepath.Join(K8sOverlays, e.Name())))
		}
	}
	return dirs, nil
}
