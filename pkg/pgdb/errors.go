package pgdb

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsUnavailable reports whether err means the database cannot be reached, as
// opposed to an error in the query or the data: a connection that could not be
// opened (refused, timed out, rejected at start-up), a connection lost while in
// use, or the server saying it is going away (SQLSTATE class 08, 57P01
// admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now).
//
// A bare context error is the caller's own deadline and says nothing about the
// database, so it is not counted; use Ping to ask the database itself.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") ||
			pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	if pgconn.Timeout(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr)
}

// sqlstateTooManyConnections is too_many_connections: the role's CONNECTION
// LIMIT, or the server's max_connections, is reached.
const sqlstateTooManyConnections = "53300"

// IsConnectionLimit reports whether err is the database refusing a new
// connection because the role's CONNECTION LIMIT (or max_connections) is
// reached: the service opened more connections than its share of the budget.
func IsConnectionLimit(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == sqlstateTooManyConnections
}
