package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// printTable prints the run's table, one markdown table: the invariants,
// the figures, and the recovery after each fault; then every violation, and
// the screens users waited for in vain.
func printTable(w io.Writer, r *Records, v Verdict) {
	verdict := "all invariants held"
	if len(v.Violations) > 0 {
		verdict = fmt.Sprintf("%d violations", len(v.Violations))
	}
	fmt.Fprintf(w, "\nSoak: %s drive, seed %d, %d updates from %d users, %d faults; %s.\n\n",
		r.Length, r.Seed, len(r.Updates), len(r.Chats), len(r.Applied), verdict)
	fmt.Fprintln(w, "| check | result | |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, row := range v.Rows {
		mark := "✅"
		switch {
		case row.Info:
			mark = ""
		case !row.OK:
			mark = "❌"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", row.Check, cell(row.Result), mark)
	}
	for _, rec := range v.Recovery {
		f := rec.Fault
		result := "nothing in flight"
		if rec.Affected > 0 {
			result = fmt.Sprintf("%s after it ended (%d in flight)", round(rec.After), rec.Affected)
		}
		if rec.Undone > 0 {
			result += fmt.Sprintf(", %d never done", rec.Undone)
		}
		if f.Err != nil {
			result += fmt.Sprintf("; %v", f.Err)
		}
		fmt.Fprintf(w, "| recovery: %s @%s for %s | %s | |\n", f.Fault, clock(f.Began.Sub(r.Start)), round(f.Ended.Sub(f.Began)), cell(result))
	}
	if len(v.Violations) > 0 {
		fmt.Fprintf(w, "\nViolations:\n")
		for _, x := range v.Violations {
			fmt.Fprintf(w, "- %s: %s\n", x.Check, x.What)
		}
	}
	if len(r.Missed) > 0 {
		fmt.Fprintf(w, "\nWhat users waited %s for in vain (a user's view; the checks above judge it): ", screenWait)
		var parts []string
		for _, what := range slices.Sorted(maps.Keys(r.Missed)) {
			parts = append(parts, fmt.Sprintf("%s ×%d", what, r.Missed[what]))
		}
		fmt.Fprintln(w, strings.Join(parts, ", "))
	}
}

// cell keeps a table cell on one line.
func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}
