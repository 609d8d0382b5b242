package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kunci-project/kunci/internal/lifecycle"
)

// shutdownOnSignal returns a context that ends at the first SIGINT or
// SIGTERM, with the signal as its cause: the command shuts down in order
// (internal/lifecycle). A second signal ends the process at once, but only
// once no relay may be unlocked: the agent's lifecycle group holds the
// context's gate until its relay is halted. The process then exits with
// 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as if the
// signal had killed it.
func shutdownOnSignal(parent context.Context, stderr io.Writer) context.Context {
	gate := &lifecycle.Gate{}
	ctx, cancel := context.WithCancelCause(lifecycle.WithGate(parent, gate))
	// two: the second signal must not be dropped while the first is read
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		first := <-sigs
		cancel(fmt.Errorf("signal: %v", first))
		second := <-sigs
		gate.Wait()
		fmt.Fprintf(stderr, "kunci: %v during the shutdown: exiting before it finished\n", second)
		os.Exit(exitStatus(second))
	}()
	return ctx
}

// exitStatus is a shell's status for a process killed by sig.
func exitStatus(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}
