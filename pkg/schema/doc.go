// Package schema owns the database schema: numbered goose migrations embedded
// in the binary (migrations/NNNNN_name.sql), applied by the migrate job before
// the services start, and by the tests into a fresh schema each.
//
// Tables are named without a schema, so the connection's search_path decides
// where they live: public in production, a throwaway schema in tests.
package schema
