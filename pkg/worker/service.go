package worker

import (
	"github.com/vpnbot/vpnbot/pkg/service"
)

// Start adds a worker loop of iterate to service s: named after the
// service, configured from env, the only replica to iterate when
// env.Singleton (elected on lockKey), started once the service's streams
// are declared and stopped at its shutdown. Its Live is the service's
// "worker" liveness check. The Worker is returned for its Wake.
func Start(s *service.Service, env Env, lockKey int64, iterate IterationFunc) (*Worker, error) {
	cfg := env.Config(s.Name)
	if cfg.Singleton {
		cfg.Elector = s.Elector(lockKey)
	}
	w, err := New(cfg, iterate, s.Log, s.Ops.Registry())
	if err != nil {
		return nil, err
	}
	s.Ops.AddLiveness("worker", w.Live)
	s.Go(w.Run)
	return w, nil
}
