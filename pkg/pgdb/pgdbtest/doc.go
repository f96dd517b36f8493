// Package pgdbtest gives tests a real PostgreSQL: a fresh, migrated schema per
// test (New), and a TCP proxy that cuts the database off to simulate an outage
// (NewProxy, over pkg/netcut). Only tests import it.
//
// The server is the one at TEST_DATABASE_URL, else the local one at
// 127.0.0.1:5432 (scripts/ensure-postgres.sh starts or installs it).
package pgdbtest
