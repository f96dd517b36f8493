package procs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/procs"
)

func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "svc.sh")
	require.NoError(t, os.WriteFile(path, []byte("#!/usr/bin/env bash\n"+body), 0o755))
	return path
}

func TestStartPrefixesOutputAndReportsExit(t *testing.T) {
	var out obstest.LogBuffer
	p, err := procs.Start("echoer", script(t, `echo "hello $GREETING"; echo oops >&2; exit 3`), []string{"GREETING=world"}, &out)
	require.NoError(t, err)
	err = p.Wait(context.Background())
	require.ErrorContains(t, err, "exit status 3")
	require.Contains(t, out.String(), "echoer         | hello world\n")
	require.Contains(t, out.String(), "echoer         | oops\n")
}

// A process's own log gets its lines as it wrote them, while the shared
// output gets them named; SplitLine reads the name back.
func TestStartLoggedCopiesTheLinesToTheProcesssOwnLog(t *testing.T) {
	var out, log obstest.LogBuffer
	p, err := procs.StartLogged("bot-handler-12", script(t, `echo '{"event":"UPDATE_HANDLED"}'; echo 'a | b' >&2`), nil, &out, &log)
	require.NoError(t, err)
	require.NoError(t, p.Wait(context.Background()))
	require.Equal(t, "{\"event\":\"UPDATE_HANDLED\"}\na | b\n", log.String())
	var names, lines []string
	for line := range strings.Lines(out.String()) {
		name, own, ok := procs.SplitLine(strings.TrimSuffix(line, "\n"))
		require.True(t, ok, line)
		names, lines = append(names, name), append(lines, own)
	}
	require.Equal(t, []string{"bot-handler-12", "bot-handler-12"}, names)
	require.Equal(t, []string{`{"event":"UPDATE_HANDLED"}`, "a | b"}, lines, "the first separator parts the name")
	_, _, ok := procs.SplitLine("a line no process wrote")
	require.False(t, ok)
}

func TestStopEndsAProcessThatHandlesSIGTERM(t *testing.T) {
	var out obstest.LogBuffer
	p, err := procs.Start("svc", script(t, `trap 'echo stopping; exit 0' TERM; echo up; while true; do sleep 0.05; done`), nil, &out)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "up") }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, p.Stop(5*time.Second))
	require.Contains(t, out.String(), "stopping")
}

func TestStopKillsAProcessThatIgnoresSIGTERM(t *testing.T) {
	var out obstest.LogBuffer
	p, err := procs.Start("stubborn", script(t, `trap '' TERM; echo up; while true; do sleep 0.05; done`), nil, &out)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "up") }, 5*time.Second, 10*time.Millisecond)
	err = p.Stop(300 * time.Millisecond)
	require.ErrorContains(t, err, "killed")
	select {
	case <-p.Done():
	default:
		t.Fatal("process still running after Stop")
	}
}

func TestRootFindsTheWorkspace(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	root, err := procs.Root(wd)
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.work"))
}
