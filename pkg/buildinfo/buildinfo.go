// Package buildinfo says which build of vpnbot a process is, so that on-call
// can tell, during a rollout or after a regression, which version each
// instance runs: in its SERVICE_START log line, as the vpnbot_build_info
// gauge on its /metrics, and on the devstack's status page.
//
// The version and revision are stamped into the binary at link time by
// `make build` and the Dockerfile:
//
//	go build -ldflags "-X github.com/vpnbot/vpnbot/pkg/buildinfo.version=v1.2.3 -X github.com/vpnbot/vpnbot/pkg/buildinfo.revision=<commit>"
//
// A binary built without them (go run, go build, go test) falls back to the
// commit the Go toolchain recorded (runtime/debug's vcs.revision, with
// "-dirty" when the tree had changes), and to "dev" for what nothing says.
package buildinfo

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version and revision are set with -ldflags -X; a const could not be.
var (
	version  string
	revision string
)

// Unknown is the version, or revision, of a build that nothing stamped.
const Unknown = "dev"

// Info is a binary's build.
type Info struct {
	// Version is the release (git describe), or Unknown.
	Version string
	// Revision is the commit built, or Unknown.
	Revision string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// Get returns the running binary's build.
func Get() Info {
	return resolve(version, revision, debug.ReadBuildInfo)
}

// resolve is Get with what -ldflags set and the toolchain's record passed
// in: the stamped values win, the record fills a revision left unset.
func resolve(ver, rev string, read func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: ver, Revision: rev, GoVersion: runtime.Version()}
	if info.Revision == "" {
		info.Revision = vcsRevision(read)
	}
	if info.Version == "" {
		info.Version = Unknown
	}
	if info.Revision == "" {
		info.Revision = Unknown
	}
	return info
}

// vcsRevision is the commit the toolchain recorded, "" when it recorded
// none (a build outside a repository, or with -buildvcs=false).
func vcsRevision(read func() (*debug.BuildInfo, bool)) string {
	bi, ok := read()
	if !ok {
		return ""
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" && dirty {
		rev += "-dirty"
	}
	return rev
}

// Collector returns the vpnbot_build_info gauge of info: always 1, its
// labels the build, so that a query can join it onto any series by job and
// instance.
func Collector(info Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vpnbot_build_info",
		Help: "Always 1; the labels say which build the process runs (version, revision, go_version).",
		ConstLabels: prometheus.Labels{
			"version":    info.Version,
			"revision":   info.Revision,
			"go_version": info.GoVersion,
		},
	})
	g.Set(1)
	return g
}
