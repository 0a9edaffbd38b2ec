// Command coredns is CoreDNS with only the plugins the local cluster's DNS uses: the cluster's own
// names (kubernetes), the Azure names the Key Vault emulator answers for (template), health and
// readiness. No forwarder: names outside the cluster and the emulator get NXDOMAIN, so nothing a pod
// resolves leads off this machine.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"
)

func init() {
	// The order CoreDNS's plugin.cfg gives these plugins (a request passes them in this order).
	dnsserver.Directives = []string{"bind", "ready", "health", "errors", "cache", "template", "kubernetes"}
}

func main() { coremain.Run() }
