package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/statefile"
)

// holdLockEnv makes the test binary a process that takes the state folder
// it names, says "locked" and waits to be killed (see TestMain).
const holdLockEnv = "DEVSTACK_TEST_HOLD_LOCK"

// holdLock is the test binary as such a process.
func holdLock(dir string) {
	in, err := lockInstance(dir)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	if err := in.announce("http://127.0.0.1:1/held"); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Hour)
	os.Exit(0)
}

// TestLockRefusesASecondRunInOneLine is two devstacks on one state folder:
// the second is refused with one line naming the first's pid and URL, and
// gets the folder once the first has let it go.
func TestLockRefusesASecondRunInOneLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := lockInstance(dir)
	require.NoError(t, err)
	_, err = lockInstance(dir)
	require.ErrorIs(t, err, errAnotherRun)
	require.Contains(t, err.Error(), fmt.Sprintf("pid %d, still starting", os.Getpid()))

	require.NoError(t, first.announce("http://127.0.0.1:8080"))
	_, err = lockInstance(dir)
	require.ErrorIs(t, err, errAnotherRun)
	require.Equal(t, fmt.Sprintf("another devstack runs on this state folder %s (pid %d, http://127.0.0.1:8080): stop it first (Ctrl-C in its terminal)",
		dir, os.Getpid()), err.Error())

	first.release()
	second, err := lockInstance(dir)
	require.NoError(t, err, "the folder is free once the first let it go")
	second.release()
}

// TestLockOfAKilledRunIsFree is a devstack killed with SIGKILL: its lock
// goes with its process, so the next run starts, and the file the killed
// one left saying who it was names nobody.
func TestLockOfAKilledRunIsFree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), holdLockEnv+"="+dir)
	stdout, err := holder.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, holder.Start())
	t.Cleanup(func() {
		_ = holder.Process.Kill()
		_ = holder.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	_, err = lockInstance(dir)
	require.ErrorContains(t, err, fmt.Sprintf("(pid %d, http://127.0.0.1:1/held)", holder.Process.Pid))

	require.NoError(t, holder.Process.Signal(syscall.SIGKILL))
	_ = holder.Wait()
	require.Equal(t, "still starting", describeOwner(dir), "the killed run's pid is named as if it ran")
	next, err := lockInstance(dir)
	require.NoError(t, err, "the killed run's lock blocks the next")
	next.release()
}

// TestCleanRefusesWhileARunHoldsTheFolder is make clean while make run
// runs: refused in one line, and nothing of the folder removed.
func TestCleanRefusesWhileARunHoldsTheFolder(t *testing.T) {
	t.Parallel()
	dir := stateDir(t)
	in, err := lockInstance(dir)
	require.NoError(t, err)
	defer in.release()
	require.NoError(t, in.announce("http://127.0.0.1:8080"))

	out, err := runDevstackClean(t, newEnv(t, dir, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/vpnbot?sslmode=disable", freePort(t))))
	require.Error(t, err)
	require.Equal(t, fmt.Sprintf("devstack: another devstack runs on this state folder %s (pid %d, http://127.0.0.1:8080): stop it first (Ctrl-C in its terminal)\n",
		dir, os.Getpid()), out)
	require.FileExists(t, filepath.Join(dir, "nats", "store"))
	var o owner
	found, err := statefile.Read(filepath.Join(dir, ownerFile), &o)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, os.Getpid(), o.PID, "clean rewrote the running devstack's record")
}
