package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/procs"
)

// binDir holds the service binaries TestMain built for every test's stack.
// It is set once, before any test runs, and only read afterwards.
var binDir string

// TestMain builds the services and the NATS node command once, so each
// test starts its stack from ready binaries, then checks that no test left
// a goroutine behind.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "vpnbot-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: creating the binary folder:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	root, err := procs.Root(wd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	if err := procs.Build(ctx, root, dir, localstack.Binaries()...); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the services:", err)
		return 1
	}
	if err := localstack.BuildNATSNode(ctx, root, dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the NATS node command:", err)
		return 1
	}
	// Shown with -v or when the run fails, like test output.
	fmt.Printf("e2e: services built in %s\n", time.Since(start).Round(time.Millisecond))
	binDir = dir

	code := m.Run()
	if code == 0 {
		if err := goleak.Find(bustest.IgnoreClusterShutdownLeaks()...); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: goroutines left behind:", err)
			return 1
		}
	}
	return code
}
