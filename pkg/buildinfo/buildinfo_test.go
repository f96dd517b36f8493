package buildinfo

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
)

// recorded is a toolchain record of commit abc123, dirty or not.
func recorded(dirty string) func() (*debug.BuildInfo, bool) {
	return func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "abc123"},
			{Key: "vcs.modified", Value: dirty},
		}}, true
	}
}

func none() (*debug.BuildInfo, bool) { return nil, false }

func TestStampedValuesWinOverTheToolchainsRecord(t *testing.T) {
	got := resolve("v1.4.0", "f00dfeed", recorded("true"))
	require.Equal(t, Info{Version: "v1.4.0", Revision: "f00dfeed", GoVersion: runtime.Version()}, got)
}

func TestAnUnstampedBuildFallsBackToTheRecordedCommit(t *testing.T) {
	require.Equal(t, Info{Version: Unknown, Revision: "abc123", GoVersion: runtime.Version()}, resolve("", "", recorded("false")))
	require.Equal(t, "abc123-dirty", resolve("", "", recorded("true")).Revision)
	require.Equal(t, Info{Version: Unknown, Revision: Unknown, GoVersion: runtime.Version()}, resolve("", "", none))
}

func TestCollectorIsOneLabelledWithTheBuild(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector(Info{Version: "v1.4.0", Revision: "f00dfeed", GoVersion: "go1.26.0"}))
	v, ok := obstest.Metric(t, reg, "vpnbot_build_info", map[string]string{
		"version": "v1.4.0", "revision": "f00dfeed", "go_version": "go1.26.0",
	})
	require.True(t, ok, "vpnbot_build_info with the build's labels")
	require.Equal(t, 1.0, v)
}

// TestLdflagsSetTheVersionAndRevision links a binary the way make build and
// the Dockerfile do: what -X sets is what Get returns, over the commit the
// toolchain records.
func TestLdflagsSetTheVersionAndRevision(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "printbuild")
	const pkg = "github.com/vpnbot/vpnbot/pkg/buildinfo"
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X "+pkg+".version=v9.8.7 -X "+pkg+".revision=0123abcd", "./testdata/printbuild")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(bin).Output()
	require.NoError(t, err)
	require.Equal(t, "v9.8.7 0123abcd\n", string(out))
}
