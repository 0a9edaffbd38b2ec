// Command leash runs one program and ties its life to the process that started leash.
//
// Node.js cannot set PR_SET_PDEATHSIG on its children, so a control plane started by a test run
// that is SIGKILLed would outlive it. leash closes that gap: the parent holds leash's stdin open;
// when stdin reaches EOF (the parent exited, however it died) leash sends SIGTERM to the program,
// then SIGKILL after the grace period. If leash itself dies, the kernel kills the program
// (Pdeathsig). SIGTERM/SIGINT sent to leash are forwarded. leash exits with the program's status.
//
// Usage: leash [-grace 10s] -- program [args...]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	grace := flag.Duration("grace", 10*time.Second, "time between SIGTERM and SIGKILL")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "leash: usage: leash [-grace 10s] -- program [args...]")
		os.Exit(2)
	}

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "leash: cannot start %s: %v\n", args[0], err)
		os.Exit(127)
	}

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	stop := make(chan struct{}, 1)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // returns at EOF: the parent is gone or let go
		stop <- struct{}{}
	}()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	var err error
	select {
	case err = <-done:
	case <-stop:
		err = terminate(cmd, done, *grace)
	case <-signals:
		err = terminate(cmd, done, *grace)
	}
	os.Exit(exitCode(err))
}

func terminate(cmd *exec.Cmd, done <-chan error, grace time.Duration) error {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		return <-done
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if status, ok := exit.Sys().(syscall.WaitStatus); ok && status.Signaled() {
			return 128 + int(status.Signal())
		}
		return exit.ExitCode()
	}
	return 1
}
