// Package store holds every SQL statement of the bot-handler: the users it
// talks to and the inbox of updates it has already handled. Each statement is
// one round trip and enforces its rule in the database (ON CONFLICT), so any
// number of replicas can run the same update without a "check then act" race.
package store
