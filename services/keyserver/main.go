package main

import (
	"context"

	"github.com/vpnbot/vpnbot/pkg/service"
	"github.com/vpnbot/vpnbot/services/keyserver/internal/keyserver"
)

func main() {
	service.Main(service.Spec[Config]{
		Name:     "keyserver",
		Defaults: defaultConfig(),
		// Everything it answers is in the database.
		WithoutNATS: true,
		BuildFunc: func(_ context.Context, cfg Config, s *service.Service) error {
			ks, err := keyserver.New(s.Pool, s.Log, s.Ops.Registry())
			if err != nil {
				return err
			}
			return s.Serve("keys", cfg.HTTPAddr, ks.Handler())
		},
	})
}
