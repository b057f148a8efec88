// loopfwd: what a test node sends to its own loopback's ephemeral ports reaches the same port on the
// machine's loopback, where the specs start their registries (test/support/registry.ts listens on
// 127.0.0.1 only). Started by test/cluster in the machine's network namespace; it opens its listener in
// the node's network namespace, where an iptables REDIRECT (set by the harness) sends
// 127.0.0.1:<ephemeral range> to it; the original port comes from SO_ORIGINAL_DST, and the connection to
// the machine's 127.0.0.1:<port> is made from the machine's namespace. Standard library only.
//
//	loopfwd NETNS_PATH LISTEN_PORT
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

const soOriginalDst = 80 // SO_ORIGINAL_DST (linux/netfilter_ipv4.h)

func listenIn(netnsPath string, port int) (net.Listener, error) {
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// This thread switches namespaces and is never given back to the scheduler (no UnlockOSThread): Go
		// ends it with the goroutine, so no other goroutine ever runs in the node's namespace.
		runtime.LockOSThread()
		f, err := os.Open(netnsPath)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if _, _, errno := syscall.RawSyscall(sysSetns(), f.Fd(), syscall.CLONE_NEWNET, 0); errno != 0 {
			ch <- result{nil, fmt.Errorf("setns %s: %v", netnsPath, errno)}
			return
		}
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		ch <- result{l, err}
	}()
	r := <-ch
	return r.l, r.err
}

// setns(2)'s number (the syscall package does not name it on amd64).
func sysSetns() uintptr {
	switch runtime.GOARCH {
	case "amd64":
		return 308
	case "arm64", "riscv64", "loong64":
		return 268
	}
	panic("loopfwd: setns number unknown on " + runtime.GOARCH)
}

func originalPort(c net.Conn) (int, error) {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var port int
	var serr error
	err = raw.Control(func(fd uintptr) {
		// sockaddr_in comes back in the first 16 bytes of an ipv6_mreq: family(2) port(2, big endian) addr(4)
		mreq, e := syscall.GetsockoptIPv6Mreq(int(fd), syscall.IPPROTO_IP, soOriginalDst)
		if e != nil {
			serr = e
			return
		}
		port = int(mreq.Multiaddr[2])<<8 | int(mreq.Multiaddr[3])
	})
	if err != nil {
		return 0, err
	}
	return port, serr
}

func serve(c net.Conn, listenPort int) {
	defer c.Close()
	port, err := originalPort(c)
	if err != nil || port == listenPort {
		fmt.Fprintf(os.Stderr, "loopfwd: no original destination (%v)\n", err)
		return
	}
	up, err := net.DialTimeout("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		return // nothing listens there on the machine: the node sees a closed connection
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, up); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: loopfwd NETNS_PATH LISTEN_PORT")
		os.Exit(2)
	}
	port, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopfwd: bad port:", os.Args[2])
		os.Exit(2)
	}
	l, err := listenIn(os.Args[1], port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopfwd:", err)
		os.Exit(1)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "loopfwd: accept:", err)
			os.Exit(1)
		}
		go serve(c, port)
	}
}
