// Command pause is the pod sandbox's process: it holds the pod's namespaces and waits for SIGTERM or
// SIGINT, like Kubernetes' own pause image (which is C); static, so the image needs nothing else.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}
