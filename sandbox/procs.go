package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Component is one process the sandbox started.
type Component struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// Log is the file its standard output and error go to.
	Log string `json:"log"`
	// Health, when set, is a URL that answers 200 while the component is healthy.
	Health string `json:"health,omitempty"`
}

// stopGrace is how long Down waits after SIGTERM before it sends SIGKILL.
const stopGrace = 10 * time.Second

// start runs bin with args as a new process group whose output goes to logs/<name>.log, writes
// pids/<name>.pid, and records the component. The process outlives this one (opsmesh sandbox up
// returns while the sandbox runs); while this process lives, it is reaped when it exits.
func (s *Sandbox) start(name, bin string, args []string, health string) error {
	logPath := filepath.Join(s.Dir, "logs", name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Stdin = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.exited[name] = exited
	c := Component{Name: name, PID: cmd.Process.Pid, Log: logPath, Health: health}
	s.State.Components = append(s.State.Components, c)
	if err := os.WriteFile(filepath.Join(s.Dir, "pids", name+".pid"), []byte(strconv.Itoa(c.PID)+"\n"), 0o600); err != nil {
		return err
	}
	return s.save()
}

// died returns an error naming the component and the end of its log when it has exited.
func (s *Sandbox) died(name string) error {
	ch, ok := s.exited[name]
	if !ok {
		return nil
	}
	select {
	case <-ch:
	default:
		return nil
	}
	for _, c := range s.State.Components {
		if c.Name == name {
			return fmt.Errorf("%s exited; the end of its log %s:\n%s", name, c.Log, logTail(c.Log, 15))
		}
	}
	return fmt.Errorf("%s exited", name)
}

// logTail returns the last n lines of the file at path.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// alive reports whether pid is a running process (a zombie, exited but not reaped, is not).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) // no /proc: trust kill(0)
	}
	// pid (comm) state ...: comm may hold spaces and parentheses, the state follows the last ')'.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

// stop ends c's process group: SIGTERM, then SIGKILL after grace. It returns whether the
// process is gone.
func stop(ctx context.Context, c Component, grace time.Duration) bool {
	if !alive(c.PID) {
		_ = syscall.Kill(-c.PID, syscall.SIGKILL) // anything left in its group
		return true
	}
	_ = syscall.Kill(-c.PID, syscall.SIGTERM)
	_ = syscall.Kill(c.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !alive(c.PID) {
			_ = syscall.Kill(-c.PID, syscall.SIGKILL)
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-c.PID, syscall.SIGKILL)
	_ = syscall.Kill(c.PID, syscall.SIGKILL)
	for range 50 {
		if !alive(c.PID) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
