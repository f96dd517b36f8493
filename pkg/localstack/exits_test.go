package localstack

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/procs"
)

// TestExitsListsOnlyWhatEndedOnItsOwn runs two stand-in processes of the
// sender: one ends by itself and must be listed as an exit, no longer
// running; the other is killed through the Stack and must not be.
func TestExitsListsOnlyWhatEndedOnItsOwn(t *testing.T) {
	cfg, err := Config{Dir: t.TempDir(), DatabaseURL: "postgres://x", Replicas: map[string]int{Sender: 2}}.withDefaults()
	require.NoError(t, err)
	s := &Stack{cfg: cfg, processes: map[string][]*process{}}
	script := func(body string) string {
		path := filepath.Join(t.TempDir(), "svc.sh")
		require.NoError(t, os.WriteFile(path, []byte("#!/usr/bin/env bash\n"+body), 0o755))
		return path
	}
	var out obstest.LogBuffer
	started := make([]*procs.Proc, 2)
	for r, body := range []string{"exit 3", "sleep 60"} {
		p, err := s.add(specOf(Sender), r)
		require.NoError(t, err)
		started[r], err = procs.Start(p.label, script(body), nil, &out)
		require.NoError(t, err)
		p.proc = started[r]
	}
	go s.watch(s.lookup(Sender, 0), started[0])

	require.Eventually(t, func() bool { return len(s.Exits()) == 1 }, 5*time.Second, 10*time.Millisecond)
	exit := s.Exits()[0]
	require.Equal(t, ServiceID{Name: Sender, Replica: 0, Label: "sender-0"}, exit.ServiceID)
	require.ErrorContains(t, exit.Err, "exit status 3")
	require.False(t, s.Running(Sender, 0))

	require.NoError(t, s.Kill(Sender, 1))
	require.False(t, s.Running(Sender, 1))
	// The watcher sees the process end after Kill has detached it.
	s.watch(s.lookup(Sender, 1), started[1])
	require.Len(t, s.Exits(), 1, "a process the Stack killed did not exit on its own")
}
