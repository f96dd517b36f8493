package natsembed_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/bus/natsembed"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, bustest.IgnoreClusterShutdownLeaks()...)
}

func TestStartServesJetStreamOnLoopback(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{Port: -1, StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	require.True(t, strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:"), "a development broker listens on loopback only: %s", srv.ClientURL())
	require.True(t, srv.JetStreamEnabled())

	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	require.True(t, nc.IsConnected())
}

func TestStartNeedsStoreDir(t *testing.T) {
	_, err := natsembed.Start(natsembed.Options{Port: -1})
	require.ErrorContains(t, err, "StoreDir")
}

func TestClusterKeepsAStreamOnEveryNodeAndOutlivesOne(t *testing.T) {
	c, err := natsembed.StartCluster(natsembed.ClusterOptions{Nodes: 3, Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Shutdown()) })
	urls := strings.Split(c.URL(), ",")
	require.Len(t, urls, 3, "NATS_URL names every node")
	for _, u := range urls {
		require.True(t, strings.HasPrefix(u, "nats://127.0.0.1:"), "a development cluster listens on loopback only: %s", u)
	}

	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3"}, Replicas: 3})
	require.NoError(t, err, "three nodes with JetStream keep a stream of three replicas")
	info := st.CachedInfo()
	require.Equal(t, natsembed.ClusterName, info.Cluster.Name)
	leader, ok := c.StreamLeader("R3")
	require.True(t, ok)
	require.Equal(t, natsembed.NodeName(leader), info.Cluster.Leader, "the nodes and stream info agree on the leader")

	require.NoError(t, c.Stop(leader))
	require.False(t, c.Running(leader))
	require.Eventually(t, func() bool {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := js.Publish(pctx, "r3", []byte("x"))
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "two nodes of three elect a new leader and store")
	require.NoError(t, c.Start(leader), "a node starts again on its ports and store")
	require.ErrorContains(t, c.Start(leader), "already running")
	bustest.WaitCurrent(t, js, "R3") // the node that came back caught up
	info, err = st.Info(ctx)
	require.NoError(t, err)
	require.Positive(t, info.State.Msgs, "what was stored while it was away is kept")
}
