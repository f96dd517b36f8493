package localstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/vpnbot/vpnbot/pkg/procs"
)

// errNoSuchService is what the per-service methods answer for a name that
// is not in the table, a job, a worker of a Stack started without
// Config.Workers, or a replica that was never started.
var errNoSuchService = errors.New("no such service in this stack")

// process is one long-running service process, listed from its first start
// on, and what it takes to start it again the same way: the same label, ops
// address and environment, so that a restart looks to the rest of the
// system like the one that went away.
type process struct {
	spec    *spec
	replica int
	label   string // output prefix and INSTANCE, e.g. bot-handler-1
	opsAddr string
	env     []string
	proc    *procs.Proc // nil while not running
	// log is the process's own log file in Config.LogDir, kept open across
	// its restarts until the Stack closes; nil without a LogDir.
	log *os.File
}

// ServiceID names one long-running service process of a Stack, as Kill,
// Start, Running and OpsURL take it.
type ServiceID struct {
	Name    string `json:"name"`    // e.g. Gateway or BotHandler
	Replica int    `json:"replica"` // which replica; 0 for a service that runs once
	Label   string `json:"label"`   // its output prefix, e.g. bot-handler-0
}

// launch starts the processes of sp that Start begins with, each ready
// before the next, then waits for what the next service needs of them.
func (s *Stack) launch(ctx context.Context, sp *spec) error {
	if sp.job {
		return s.runJob(ctx, sp)
	}
	for r := range s.cfg.replicas(sp) {
		s.mu.Lock()
		p, err := s.add(sp, r)
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if err := s.run(ctx, p); err != nil {
			return err
		}
	}
	if sp.startedFunc != nil {
		return sp.startedFunc(s, ctx)
	}
	return nil
}

// replicas is how many processes of sp Start runs.
func (c Config) replicas(sp *spec) int {
	switch {
	case sp.scaled:
		return c.BotHandlers
	case c.Replicas[sp.name] > 0:
		return c.Replicas[sp.name]
	}
	return 1
}

// add lists a new process for replica, the next of sp's; s.mu held.
func (s *Stack) add(sp *spec, replica int) (*process, error) {
	label := sp.name
	if sp.scaled || s.cfg.replicas(sp) > 1 {
		label += "-" + strconv.Itoa(replica)
	}
	ops, err := s.opsAddr(sp, replica)
	if err != nil {
		return nil, err
	}
	p := &process{spec: sp, replica: replica, label: label, opsAddr: ops, env: s.environ(sp, label, ops)}
	if s.cfg.LogDir != "" {
		if p.log, err = OpenLog(s.cfg.LogDir, label); err != nil {
			return nil, err
		}
	}
	s.processes[sp.name] = append(s.processes[sp.name], p)
	return p, nil
}

// OpenLog opens dir/<name>.log, made afresh, for a process's whole log;
// the file of the run before, if any, is kept as dir/<name>.log.1.
func OpenLog(dir, name string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the log folder: %w", err)
	}
	path := filepath.Join(dir, name+".log")
	if err := os.Rename(path, path+".1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keeping the last run's log of %s: %w", name, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the log of %s: %w", name, err)
	}
	return f, nil
}

// logOf is where procs copies a process's own lines: its log file, or none.
func logOf(f *os.File) io.Writer {
	if f == nil {
		return nil
	}
	return f
}

// opsAddr is the ops address of replica of sp: in the block at
// Config.OpsPort, or a free port. The block has a port for each bot-handler
// replica but one only for each other service: its further replicas
// (Config.Replicas) take free ports.
func (s *Stack) opsAddr(sp *spec, replica int) (string, error) {
	if sp.job {
		return "", fmt.Errorf("ops port of %s: a job has no ops endpoint", sp.name)
	}
	if s.cfg.OpsPort == 0 || (replica > 0 && !sp.scaled) {
		return FreeAddr()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.cfg.OpsPort+sp.opsOffset+replica)), nil
}

// run starts p's process and waits until its /readyz answers 200.
func (s *Stack) run(ctx context.Context, p *process) error {
	proc, err := procs.StartLogged(p.label, filepath.Join(s.cfg.BinDir, p.spec.name), p.env, s.cfg.Output, logOf(p.log))
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		proc.Kill()
		return fmt.Errorf("starting %s: the stack is closed", p.label)
	}
	p.proc = proc
	s.mu.Unlock()
	go s.watch(p, proc)
	if err := s.waitReady(ctx, p.label, p.opsAddr, proc); err != nil {
		return err
	}
	s.log.Info().Str("service", p.label).Int("pid", proc.Pid()).Str("ops", "http://"+p.opsAddr).Msg("service ready")
	return nil
}

// Exit is a service process that ended on its own: not by Kill, Stop or
// Close. An orchestrator would restart it; Start does so here.
type Exit struct {
	ServiceID
	At  time.Time
	Err error // how it ended; nil for exit status 0
}

// Exits lists the processes that ended on their own since Start, in order.
func (s *Stack) Exits() []Exit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.exits)
}

// watch waits for proc, p's process, to end, and records the end as an Exit
// unless Kill, Stop or Close took the process first: they detach it before
// they end it.
func (s *Stack) watch(p *process, proc *procs.Proc) {
	<-proc.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.proc != proc {
		return
	}
	p.proc = nil
	s.exits = append(s.exits, Exit{
		ServiceID: ServiceID{Name: p.spec.name, Replica: p.replica, Label: p.label},
		At:        time.Now(),
		Err:       proc.Err(),
	})
	s.log.Warn().Str("service", p.label).AnErr("exit", proc.Err()).Msg("service exited on its own")
}

// runJob runs sp's process to completion; its output is in the error when
// it fails. The errors speak of migrating, the one job there is.
func (s *Stack) runJob(ctx context.Context, sp *spec) error {
	var out bytes.Buffer
	var log *os.File
	if s.cfg.LogDir != "" {
		var err error
		if log, err = OpenLog(s.cfg.LogDir, sp.name); err != nil {
			return err
		}
		defer log.Close()
	}
	p, err := procs.StartLogged(sp.name, filepath.Join(s.cfg.BinDir, sp.name), s.environ(sp, sp.name, ""),
		io.MultiWriter(s.cfg.Output, &out), logOf(log))
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := p.Wait(wctx); err != nil {
		if ctx.Err() == nil && wctx.Err() == nil {
			// Output is complete once the process is done.
			return fmt.Errorf("migrating the database: %w\n%s", err, out.String())
		}
		p.Kill()
		return fmt.Errorf("migrating the database: not done within %s: %w\n%s", readyTimeout, err, out.String())
	}
	return nil
}

// Kill kills a service's process with SIGKILL, as a crash or an OOM kill
// would, and waits for it to be gone: a replica of a service, or a service
// that runs once by name (replica ignored). Start starts it again.
func (s *Stack) Kill(service string, replica int) error {
	p, err := s.take(service, replica)
	if err != nil {
		return fmt.Errorf("killing %s: %w", service, err)
	}
	p.Kill()
	s.log.Info().Str("service", service).Int("replica", replica).Msg("service killed")
	return nil
}

// Stop stops a service gracefully (SIGTERM, then SIGKILL after the grace
// period) and reports whether it stopped cleanly.
func (s *Stack) Stop(service string, replica int) error {
	p, err := s.take(service, replica)
	if err != nil {
		return fmt.Errorf("stopping %s: %w", service, err)
	}
	return p.Stop(stopGrace)
}

// Start starts a killed, stopped or exited service again, with its former
// ops address, and waits until it is ready. For BotHandler, replica may also be
// the number of replicas so far, which adds one.
func (s *Stack) Start(service string, replica int) error {
	s.mu.Lock()
	p, err := s.toStart(service, replica)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("starting %s: %w", service, err)
	}
	return s.run(context.Background(), p)
}

// toStart is the process Start starts: a listed one that is not running, or
// a new replica of a replicated service; s.mu held.
func (s *Stack) toStart(service string, replica int) (*process, error) {
	if sp := specOf(service); sp != nil && sp.scaled && replica == len(s.processes[service]) {
		return s.add(sp, replica)
	}
	p := s.lookup(service, replica)
	switch {
	case p == nil:
		return nil, errNoSuchService
	case p.proc != nil:
		return nil, errors.New("already running")
	}
	return p, nil
}

// Running reports whether a service's process is running.
func (s *Stack) Running(service string, replica int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookup(service, replica)
	return p != nil && p.proc != nil
}

// Services lists the long-running services in start order, running or not.
func (s *Stack) Services() []ServiceID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ServiceID
	for _, sp := range services {
		for _, p := range s.processes[sp.name] {
			out = append(out, ServiceID{Name: sp.name, Replica: p.replica, Label: p.label})
		}
	}
	return out
}

// OpsURL is the base URL of a service's ops endpoint (/livez, /readyz,
// /metrics): a replica of a service, or a service that runs once by name
// (replica ignored). It is empty for an unknown service or replica.
func (s *Stack) OpsURL(service string, replica int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.lookup(service, replica); p != nil {
		return "http://" + p.opsAddr
	}
	return ""
}

// take detaches a running service's process, for the caller to end.
func (s *Stack) take(service string, replica int) (*procs.Proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookup(service, replica)
	switch {
	case p == nil:
		return nil, errNoSuchService
	case p.proc == nil:
		return nil, errors.New("not running")
	}
	proc := p.proc
	p.proc = nil
	return proc, nil
}

// lookup finds a listed process by service name and replica; a service
// that runs once is found whatever the replica. s.mu held.
func (s *Stack) lookup(service string, replica int) *process {
	listed := s.processes[service]
	if len(listed) == 1 && !listed[0].spec.scaled {
		replica = 0
	}
	if replica < 0 || replica >= len(listed) {
		return nil
	}
	return listed[replica]
}

// closeLogs closes the processes' log files, once none runs; s.mu held.
func (s *Stack) closeLogs() error {
	var errs []error
	for _, listed := range s.processes {
		for _, p := range listed {
			if p.log != nil {
				errs = append(errs, p.log.Close())
				p.log = nil
			}
		}
	}
	return errors.Join(errs...)
}

// detachAll takes every running process, for Close to end; s.mu held.
func (s *Stack) detachAll() []*procs.Proc {
	var running []*procs.Proc
	for _, listed := range s.processes {
		for _, p := range listed {
			if p.proc != nil {
				running = append(running, p.proc)
				p.proc = nil
			}
		}
	}
	return running
}
