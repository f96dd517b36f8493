// Command printbuild prints buildinfo.Get, for the test that links it with
// -ldflags -X as make build and the Dockerfile do.
package main

import (
	"fmt"

	"github.com/vpnbot/vpnbot/pkg/buildinfo"
)

func main() {
	bi := buildinfo.Get()
	fmt.Println(bi.Version, bi.Revision)
}
