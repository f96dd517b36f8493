package localstack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/procs"
)

// standInEnv makes the test binary a stand-in service (see standIn), so the
// Stack's own code starts, kills and stops real processes in a unit test.
const standInEnv = "LOCALSTACK_TEST_STAND_IN"

// standIn is a service as the Stack sees one: it logs a line naming its
// INSTANCE, answers its ops endpoint at OPS_ADDR, and stops on SIGTERM.
func standIn() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", os.Getenv("OPS_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf(`{"level":"info","instance":%q,"event":"SERVICE_START","message":"starting"}`+"\n", os.Getenv("INSTANCE"))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })}
	go func() { _ = srv.Serve(ln) }()
	<-ctx.Done()
	_ = srv.Close()
	return 0
}

// TestEachProcessLogsToItsOwnFile runs two replicas of a service with a
// LogDir: each writes its whole output, as it wrote it, to its own file
// named after its label, while Output still gets every line named; a
// replica started again appends to its file; and the file of the run
// before is kept once.
func TestEachProcessLogsToItsOwnFile(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	bin, logs := t.TempDir(), filepath.Join(t.TempDir(), "logs")
	require.NoError(t, os.Symlink(exe, filepath.Join(bin, Sender)))
	require.NoError(t, os.MkdirAll(logs, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(logs, "sender-1.log"), []byte("the run before\n"), 0o644))
	var out obstest.LogBuffer
	cfg, err := Config{
		Dir: t.TempDir(), BinDir: bin, DatabaseURL: "postgres://x", Replicas: map[string]int{Sender: 2},
		LogDir: logs, Env: []string{standInEnv + "=1"}, Output: &out,
	}.withDefaults()
	require.NoError(t, err)
	s := &Stack{cfg: cfg, processes: map[string][]*process{}, http: &http.Client{Timeout: probeTimeout, Transport: &http.Transport{}}}
	t.Cleanup(func() { _ = s.Close() })

	require.NoError(t, s.launch(t.Context(), specOf(Sender)))
	require.NoError(t, s.Kill(Sender, 1))
	require.NoError(t, s.Start(Sender, 1))
	require.NoError(t, s.Close())

	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(logs, name))
		require.NoError(t, err)
		return string(b)
	}
	start := func(label string) string {
		return fmt.Sprintf(`{"level":"info","instance":%q,"event":"SERVICE_START","message":"starting"}`+"\n", label)
	}
	require.Equal(t, start("sender-0"), read("sender-0.log"), "the line as the service wrote it")
	require.Equal(t, start("sender-1")+start("sender-1"), read("sender-1.log"), "started again, appended")
	require.Equal(t, "the run before\n", read("sender-1.log.1"))
	named := map[string]int{}
	for line := range strings.Lines(out.String()) {
		name, _, ok := procs.SplitLine(strings.TrimSuffix(line, "\n"))
		require.True(t, ok, line)
		named[name]++
	}
	require.Equal(t, map[string]int{"sender-0": 1, "sender-1": 2}, named, "Output gets every line, named")
}
