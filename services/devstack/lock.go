package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vpnbot/vpnbot/pkg/statefile"
)

// Files of the instance lock, in the state folder.
const (
	// lockFile is flocked by the devstack that owns the state folder for as
	// long as its process lives: the kernel releases it however the process
	// ends, SIGKILL included, so a crashed run never blocks the next.
	lockFile = "devstack.lock"
	// ownerFile says who holds the lock, for the message of the one refused.
	ownerFile = "devstack.json"
)

// errAnotherRun refuses a devstack whose state folder another one holds.
var errAnotherRun = errors.New("another devstack runs on this state folder")

// owner is what ownerFile holds.
type owner struct {
	PID     int       `json:"pid"`
	URL     string    `json:"url,omitempty"` // the console, once it serves
	Started time.Time `json:"started"`
}

// instance is the state folder's lock, held.
type instance struct {
	dir   string
	file  *os.File
	owner owner
}

// lockInstance takes the state folder dir for this process, or fails with
// errAnotherRun, in one line saying which process has it and where it
// serves, touching nothing of it.
func lockInstance(dir string) (*instance, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the state folder %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the lock of the state folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w %s (%s): stop it first (Ctrl-C in its terminal)", errAnotherRun, dir, describeOwner(dir))
		}
		return nil, fmt.Errorf("locking the state folder %s: %w", dir, err)
	}
	in := &instance{dir: dir, file: f, owner: owner{PID: os.Getpid(), Started: time.Now().UTC()}}
	if err := in.announce(""); err != nil {
		in.release()
		return nil, err
	}
	return in, nil
}

// describeOwner says who holds dir's lock, from what it wrote there.
func describeOwner(dir string) string {
	var o owner
	found, err := statefile.Read(filepath.Join(dir, ownerFile), &o)
	// A file from a killed run, not yet replaced by the run that holds the
	// lock now, names a process that is gone.
	if err != nil || !found || errors.Is(syscall.Kill(o.PID, 0), syscall.ESRCH) {
		return "still starting"
	}
	if o.URL == "" {
		return fmt.Sprintf("pid %d, still starting", o.PID)
	}
	return fmt.Sprintf("pid %d, %s", o.PID, o.URL)
}

// announce records where this run serves, for a refused one to say.
func (in *instance) announce(url string) error {
	in.owner.URL = url
	if err := statefile.Write(filepath.Join(in.dir, ownerFile), in.owner); err != nil {
		return fmt.Errorf("recording this devstack in the state folder: %w", err)
	}
	return nil
}

// release gives the state folder up; the files stay, for the next run to
// lock and overwrite.
func (in *instance) release() {
	_ = in.file.Close() // closing the last descriptor releases the flock
}
