// Command natsnode runs one embedded NATS server, a node of a cluster, as a
// process of its own, so that a test can kill it with SIGKILL as a crash
// would: natsembed.Cluster starts it with ClusterOptions.Binary, configured
// by the environment natsembed.NodeEnv describes. It runs until SIGTERM or
// an interrupt, then shuts the server down as nats-server does on SIGTERM,
// handing its leaderships over first.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/vpnbot/vpnbot/pkg/bus/natsembed"
	"github.com/vpnbot/vpnbot/pkg/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "natsnode:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	env, err := config.Load(natsembed.NodeEnv{})
	if err != nil {
		return err
	}
	srv, err := natsembed.Start(env.Options())
	if err != nil {
		return err
	}
	<-ctx.Done()
	srv.Shutdown()
	srv.WaitForShutdown()
	return nil
}
