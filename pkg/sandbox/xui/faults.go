package xui

import (
	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
)

// Fault is a failure injected into panel calls; its Route is a route as in
// the package doc, e.g. "POST /panel/api/clients/add", compared ignoring
// case. A failed call answers the status without a body, as a proxy in
// front of the panel would.
type Fault = fault.Fault

// Inject adds a fault; the first matching fault, in injection order, applies
// to each call.
func (s *Server) Inject(f Fault) { s.faults.Inject(f, struct{}{}) }

// ClearFaults removes every fault and releases the calls hanging on one.
func (s *Server) ClearFaults() { s.faults.Clear() }
