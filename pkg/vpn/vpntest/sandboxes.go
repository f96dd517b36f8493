package vpntest

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
	"github.com/vpnbot/vpnbot/pkg/sandbox/marzban"
	"github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// Kinds are the kinds of panel a Sandbox can be.
var Kinds = []string{vpn.KindOutline, vpn.KindRemnawave, vpn.KindMarzban, vpn.KindXUI}

// Sandbox is a sandbox panel of one kind and an adapter of it, seen through
// what tests of code that calls panels need: the panel's accounts and
// calls, whether a link works, ways to break the panel, and ways to change
// an account behind the bot's back.
type Sandbox struct {
	Kind string
	// Panel is the adapter, naming accounts with the default prefix.
	Panel vpn.Panel
	// Expires is whether the panel keeps an expiry (all but Outline).
	Expires bool
	// Accounts counts the bot's accounts on the panel (of the default
	// prefix), listing them with the adapter.
	Accounts func() int
	// Requests counts the calls the panel got.
	Requests func() int
	// LinkWorks reports whether a VPN app given url would connect.
	LinkWorks func(url string) bool
	// Fail makes every call fail with a 503, or hang until Clear.
	Fail  func(hang bool)
	Clear func()
	// Drift changes an account behind the bot's back, by its name: false
	// when there is no such account.
	DriftDelete  func(name string) bool
	DriftDisable func(name string) bool
	DriftExpiry  func(name string, at time.Time) bool
	// Latency makes every call take d longer (0: none).
	Latency func(d time.Duration)
}

// injector is what every sandbox panel's faults have.
type injector interface {
	Inject(fault.Fault)
	ClearFaults()
}

func (s *Sandbox) faults(in injector) {
	s.Fail = func(hang bool) {
		if hang {
			in.Inject(fault.Fault{Hang: true})
			return
		}
		in.Inject(fault.Fault{Status: http.StatusServiceUnavailable})
	}
	s.Clear = in.ClearFaults
	s.Latency = func(d time.Duration) {
		in.ClearFaults()
		if d > 0 {
			in.Inject(fault.Fault{Latency: d})
		}
	}
}

// StartSandbox starts a sandbox panel of kind (one of Kinds: Remnawave 3.x,
// the current 3x-ui) and an adapter of it, closed when the test ends.
func StartSandbox(t testing.TB, kind string) *Sandbox {
	t.Helper()
	s := &Sandbox{Kind: kind, Expires: kind != vpn.KindOutline}
	switch kind {
	case vpn.KindOutline:
		srv, err := outline.New(outline.Config{Log: zerolog.Nop()})
		if err != nil {
			t.Fatalf("making the sandbox Outline panel: %v", err)
		}
		if err := srv.Start("127.0.0.1:0"); err != nil {
			t.Fatalf("starting the sandbox Outline panel: %v", err)
		}
		t.Cleanup(srv.Close)
		s.Panel = OutlinePanel(t, srv, "", 0)
		s.Requests = func() int { return srv.Requests("") }
		s.LinkWorks = srv.KeyWorks
		s.DriftDelete, s.DriftDisable, s.DriftExpiry = srv.DriftDelete, srv.DriftDisable, srv.DriftExpiry
		s.faults(srv)
	case vpn.KindRemnawave:
		srv := StartRemnawaveServer(t, remnawave.Config{Version: 3})
		s.Panel = RemnawavePanel(t, srv, "", 0)
		s.Requests = func() int { return srv.Requests("") }
		s.LinkWorks = func(url string) bool { return RemnawaveLinkWorks(t, url) }
		s.DriftDelete, s.DriftDisable, s.DriftExpiry = srv.DriftDelete, srv.DriftDisable, srv.DriftExpiry
		s.faults(srv)
	case vpn.KindMarzban:
		srv := StartMarzban(t, marzban.Config{})
		s.Panel = MarzbanAdapter(t, srv, "", 0)
		s.Requests = func() int { return srv.Requests("") }
		s.LinkWorks = func(url string) bool { return MarzbanLinkWorks(t, srv, url) }
		s.DriftDelete, s.DriftDisable, s.DriftExpiry = srv.DriftDelete, srv.DriftDisable, srv.DriftExpiry
		s.faults(srv)
	case vpn.KindXUI:
		srv := StartXUI(t, "")
		s.Panel = XUIAdapter(t, srv, "", 0)
		s.Requests = func() int { return srv.Requests("") }
		s.LinkWorks = func(url string) bool { return XUILinkWorks(t, srv, url) }
		s.DriftDelete, s.DriftDisable, s.DriftExpiry = srv.DriftDelete, srv.DriftDisable, srv.DriftExpiry
		s.faults(srv)
	default:
		t.Fatalf("no sandbox panel of kind %q", kind)
	}
	s.Accounts = func() int {
		t.Helper()
		n, cursor := 0, ""
		for {
			page, err := s.Panel.Accounts(t.Context(), cursor)
			if err != nil {
				t.Fatalf("listing the accounts of the sandbox %s: %v", kind, err)
			}
			n += len(page.Accounts)
			if page.Next == "" {
				return n
			}
			cursor = page.Next
		}
	}
	return s
}

// Fleet returns a fleet of the sandbox's one panel, named after its kind,
// failing over, observing nothing.
func (s *Sandbox) Fleet(t testing.TB) *vpn.Fleet {
	t.Helper()
	f, err := vpn.NewFleet([]vpn.Panel{s.Panel}, []vpn.MemberConfig{{Name: s.Kind}}, vpn.FleetOptions{Failover: true})
	if err != nil {
		t.Fatalf("making a fleet of the sandbox %s: %v", s.Kind, err)
	}
	return f
}

// Account reads the bot's account of the name on the panel, failing the
// test on an error other than vpn.ErrNotFound (then found is false).
func (s *Sandbox) Account(t testing.TB, name string) (a vpn.Account, found bool) {
	t.Helper()
	a, err := s.Panel.Account(t.Context(), vpn.Ref{Name: name})
	if err == nil {
		return a, true
	}
	if !errors.Is(err, vpn.ErrNotFound) {
		t.Fatalf("reading account %s on the sandbox %s: %v", name, s.Kind, err)
	}
	return vpn.Account{}, false
}
