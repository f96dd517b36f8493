// Package manifests reads what deploy/ and docker-compose.yml say, in Go, so
// that `make test` checks them on a machine with neither kubectl nor docker:
// Render builds a kustomization with the kustomize library (as `kubectl
// kustomize` does) and decodes the objects the checks look at; LoadCompose
// parses the compose file, anchors and merge keys included.
package manifests
