// Package statefile keeps a program's state in a JSON file across restarts,
// for the local tools that have no database: the devstack's records and the
// sandboxes' chats and invoices under .data/.
//
// A file is replaced whole or not at all (Write): the new content goes to a
// temporary file beside it, is synced, and is renamed over the old one, and
// the folder is synced, so a crash or SIGKILL at any moment leaves either
// the old file or the new one, never a mix. Read tells a missing file (a
// first start) from one it cannot read, which it reports naming the file
// rather than starting empty over it: the state it holds is not lost.
//
// A Saver writes a snapshot behind the changes, at most once an interval
// while something changed and once more at Close, for state too large or
// too busy to write on every change. What a SIGKILL loses with it is the
// changes of the last interval; state whose loss would do harm (an id that
// must never be handed out twice) is written with Write before it is used.
package statefile
