// Package schema owns the database schema: numbered goose migrations embedded
// in the binary (migrations/NNNNN_name.sql), applied by the migrate job before
// the services start, and by the tests into a fresh schema each; and the
// services' roles (Roles, ApplyRoles): each service's CONNECTION LIMIT and the
// tables it may read and write, which migrate applies after the migrations.
// Roles belong to the whole server, grants to the schema: ApplyRoles grants on
// the schema the search_path points at, under a prefix of the caller's.
//
// Tables are named without a schema, so the connection's search_path decides
// where they live: public in production, a throwaway schema in tests.
package schema
