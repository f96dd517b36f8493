// Package procs builds the services' binaries and runs them as child
// processes, the way `make run`, the end-to-end tests and the load benchmark
// run the system: every service its own process, its output prefixed with its
// name (FormatLine, read back by SplitLine) and, when asked, copied whole to
// a log of its own, stopped with SIGTERM and, past a grace period, SIGKILL.
package procs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Root finds the repository root (the folder holding go.work) from dir upwards.
func Root(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work above %s", dir)
		}
	}
}

// Build compiles services/<name> of the repository at root into binDir/<name>.
func Build(ctx context.Context, root, binDir string, names ...string) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", binDir, err)
	}
	for _, name := range names {
		if err := BuildPackage(ctx, filepath.Join(root, "services", name), filepath.Join(binDir, name)); err != nil {
			return err
		}
	}
	return nil
}

// buildWaitDelay is how long an interrupted go build gets to end before it
// is killed.
const buildWaitDelay = 10 * time.Second

// BuildPackage compiles the main package in dir into the binary out.
func BuildPackage(ctx context.Context, dir, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = dir
	// When ctx ends (a Ctrl-C while building), go and the compilers and
	// linker it started are interrupted together, as their own process
	// group: go does not wait for them, so signalling go alone leaves them
	// running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = buildWaitDelay
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %w\n%s", dir, err, output)
	}
	return nil
}

// Proc is one running service process.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
}

// Start runs binary with env added to the current environment, copying each
// line of its output to out as FormatLine writes it.
func Start(name, binary string, env []string, out io.Writer) (*Proc, error) {
	return StartLogged(name, binary, env, out, nil)
}

// StartLogged is Start that also copies each line, as the process wrote it,
// to log when log is not nil: the process's own log file, beside the output
// out shares with other processes.
func StartLogged(name, binary string, env []string, out, log io.Writer) (*Proc, error) {
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	var copied sync.WaitGroup
	copied.Add(1)
	go func() {
		defer copied.Done()
		copyLines(out, log, name, pr)
	}()
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		copied.Wait()
		close(p.done)
	}()
	return p, nil
}

var outMu sync.Mutex // one line at a time, whatever process it comes from

// separator parts a process's name from its line in FormatLine.
const separator = " | "

// FormatLine is a line of a process's output as Start copies it: the
// process's name, padded to a column, then " | " and the line.
func FormatLine(name string, line []byte) string {
	return fmt.Sprintf("%-14s%s%s", name, separator, line)
}

// SplitLine reads a line as FormatLine wrote it: the process's name and its
// own line; ok is false for a line that has no name.
func SplitLine(s string) (name, line string, ok bool) {
	name, line, ok = strings.Cut(s, separator)
	return strings.TrimSpace(name), line, ok
}

// copyLines copies each line of r to out as FormatLine writes it, and to
// log, when not nil, as it is.
func copyLines(out, log io.Writer, name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		outMu.Lock()
		fmt.Fprintln(out, FormatLine(name, sc.Bytes()))
		outMu.Unlock()
		if log != nil {
			// A log that cannot take the line (a full disk) must not stop
			// the output, nor the process.
			_, _ = fmt.Fprintf(log, "%s\n", sc.Bytes())
		}
	}
	// Drain what a too-long line left, so the child never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, valid after Done.
func (p *Proc) Err() error { return p.err }

// Stop sends SIGTERM and waits up to grace before SIGKILL. It reports the
// exit error unless the process ended because of the signal it was sent.
func (p *Proc) Stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s did not stop within %s: killed", p.Name, grace)
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) && !exit.Exited() {
		return nil // ended by our signal without a handler, nothing to report
	}
	if p.err != nil {
		return fmt.Errorf("%s: %w", p.Name, p.err)
	}
	return nil
}

// Kill ends the process at once, as a crash or an OOM kill would, and waits.
func (p *Proc) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Wait waits for the process to exit or ctx to end.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s: %w", p.Name, p.err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
