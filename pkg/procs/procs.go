// Package procs builds the services' binaries and runs them as child
// processes, the way `make run`, the end-to-end tests and the load benchmark
// run the system: every service its own process, its output prefixed with its
// name, stopped with SIGTERM and, past a grace period, SIGKILL.
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
// line of its output to out prefixed with "name | ".
func Start(name, binary string, env []string, out io.Writer) (*Proc, error) {
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
		prefixLines(out, name, pr)
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

func prefixLines(out io.Writer, name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		outMu.Lock()
		fmt.Fprintf(out, "%-14s | %s\n", name, sc.Bytes())
		outMu.Unlock()
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
