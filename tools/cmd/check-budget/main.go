// Command check-budget checks the PostgreSQL connection budget
// (deploy/budget.yaml) against max_connections, the Kubernetes manifests
// (kustomize build of deploy/k8s/base and every overlay) and
// docker-compose.yml, printing the budget when it holds and every
// disagreement, naming the service and the numbers, when it does not.
//
//	cd tools && go run ./cmd/check-budget [-root ..]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/vpnbot/vpnbot/tools/internal/budget"
)

func main() {
	root := flag.String("root", "..", "the repository's root (the default suits running from tools/)")
	flag.Parse()
	b, err := budget.Check(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "check-budget: FAIL")
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Print(b.Table())
	fmt.Println("check-budget: ok — deploy/k8s and docker-compose.yml agree with deploy/budget.yaml")
}
