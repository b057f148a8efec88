// Command injector serves a payload of image blobs, carried into a cluster in ConfigMaps, as a
// read-only OCI registry. It needs no shell, no libc, no root, no capabilities and no writable file:
//
//	injector [-listen :5000] CONFIGMAP-DIR...
//	injector gate ...      (the push gate beside a registry with credentials: gate.go)
//	injector receive ...   (node injection's receiver in a node agent: receive.go)
//
// Each CONFIGMAP-DIR is one mounted ConfigMap (a file per key), named as the ConfigMap; one of them
// holds index.json, the chunk index lading wrote. See README.md.
package main

import (
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = "usage: injector [-listen ADDRESS] CONFIGMAP-DIR...   (or: injector gate -h, injector receive -h)\n" +
	"  -listen ADDRESS  where to listen (default :5000)\n" +
	"  CONFIGMAP-DIR    a mounted ConfigMap of the payload, named as the ConfigMap; one holds index.json\n"

func logLine(message string) {
	os.Stderr.WriteString("injector: " + message + "\n")
}

func fail(message string, code int) {
	logLine(message)
	os.Exit(code)
}

// parseArgs: -listen ADDR, -listen=ADDR (one or two dashes), -h, and the directories.
func parseArgs(args []string) (listen string, dirs []string) {
	listen = ":5000"
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "--help":
			os.Stdout.WriteString(usage)
			os.Exit(0)
		case a == "-listen" || a == "--listen":
			if i+1 >= len(args) {
				fail("-listen needs an address\n"+usage, 2)
			}
			i++
			listen = args[i]
		case strings.HasPrefix(a, "-listen=") || strings.HasPrefix(a, "--listen="):
			listen = a[strings.IndexByte(a, '=')+1:]
		case a == "--":
			return listen, append(dirs, args[i+1:]...)
		case strings.HasPrefix(a, "-"):
			fail("unknown flag "+strconv.Quote(a)+"\n"+usage, 2)
		default:
			dirs = append(dirs, a)
		}
	}
	return listen, dirs
}

// stopOnSignal: as PID 1 in a container a signal without a handler would be ignored; stop cleanly instead.
func stopOnSignal() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		logLine("stopping")
		os.Exit(0)
	}()
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "gate" {
		runGate(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "receive" {
		runReceive(os.Args[2:])
		return
	}
	started := time.Now()
	listen, dirs := parseArgs(os.Args[1:])
	if len(dirs) == 0 {
		fail("no payload directories given\n"+usage, 2)
	}
	p, err := loadPayload(dirs)
	if err != nil {
		fail(err.Error(), 1)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fail("cannot listen on "+listen+": "+err.Error(), 1)
	}
	names := make([]string, 0, len(p.repositories))
	for name := range p.repositories {
		names = append(names, name)
	}
	logLine("payload " + p.id + ": " + strconv.Itoa(len(p.blobs)) + " blobs, " + strconv.FormatInt(p.bytes, 10) +
		" bytes, repositories " + strings.Join(names, " ") + "; listening on " + ln.Addr().String())
	go p.verifyAll()
	stopOnSignal()
	g := &registry{p: p, started: started}
	if err := serve(ln, g.handle); err != nil {
		fail(err.Error(), 1)
	}
}
