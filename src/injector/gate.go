package main

// The push gate: `injector gate` runs beside an in-cluster registry that demands htpasswd credentials.
// lading pushes through the API server's services/proxy, and the API server removes the Authorization
// header from every request it proxies once it has authenticated the caller (kubernetes/kubernetes#38775),
// so no Basic credential can reach the registry that way. The gate takes a push token in its own header
// instead, checks it in constant time, and forwards the request to the registry on loopback with the
// registry's credentials added. Bodies are spliced both ways unread (blobs stream through), one request
// per connection (Connection: close on both sides), so no request body needs parsing here.
//
//	injector gate [-listen :5001] [-upstream 127.0.0.1:5000] -secrets DIR
//
// DIR (a mounted Secret) holds push-token and registry-credentials (USER:PASSWORD). GET /lading-gate/ready
// answers 200 once the registry accepts those credentials (the pod's readiness probe; no token needed).

import (
	"bufio"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	pushTokenHeader = "x-lading-push-token"
	readyPath       = "/lading-gate/ready"
)

type gate struct {
	upstream string
	token    []byte
	auth     string // the Authorization header's value for the registry
}

const gateUsage = "usage: injector gate [-listen ADDRESS] [-upstream HOST:PORT] -secrets DIR\n" +
	"  -listen ADDRESS     where to listen (default :5001)\n" +
	"  -upstream HOST:PORT the registry (default 127.0.0.1:5000)\n" +
	"  -secrets DIR        holds push-token and registry-credentials (USER:PASSWORD)\n"

func runGate(args []string) {
	listen, upstream, secrets := ":5001", "127.0.0.1:5000", ""
	for i := 0; i < len(args); i++ {
		name, value, inline := strings.Cut(strings.TrimPrefix(args[i], "-"), "=")
		name = strings.TrimPrefix(name, "-")
		if name == "h" || name == "help" {
			os.Stdout.WriteString(gateUsage)
			os.Exit(0)
		}
		if !inline {
			if i+1 >= len(args) {
				fail("gate: "+args[i]+" needs a value\n"+gateUsage, 2)
			}
			i++
			value = args[i]
		}
		switch name {
		case "listen":
			listen = value
		case "upstream":
			upstream = value
		case "secrets":
			secrets = value
		default:
			fail("gate: unknown flag "+strconv.Quote(args[i])+"\n"+gateUsage, 2)
		}
	}
	if secrets == "" {
		fail("gate: -secrets is required\n"+gateUsage, 2)
	}
	token, err1 := readSecret(secrets, "push-token")
	credentials, err2 := readSecret(secrets, "registry-credentials")
	if err1 != nil || err2 != nil {
		fail("gate: "+firstError(err1, err2).Error(), 1)
	}
	if !strings.Contains(credentials, ":") {
		fail("gate: registry-credentials is not USER:PASSWORD", 1)
	}
	g := &gate{upstream: upstream, token: []byte(token), auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(credentials))}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fail("gate: cannot listen on "+listen+": "+err.Error(), 1)
	}
	logLine("gate: listening on " + ln.Addr().String() + ", forwarding to " + upstream)
	stopOnSignal()
	if err := acceptConns(ln, g.serveConn); err != nil {
		fail("gate: "+err.Error(), 1)
	}
}

func readSecret(dir, name string) (string, error) {
	b, err := os.ReadFile(dir + "/" + name)
	if err != nil {
		return "", err
	}
	value := strings.TrimSpace(string(b))
	if value == "" {
		return "", errorString(name + " in " + dir + " is empty")
	}
	return value, nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

func firstError(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// idleConn renews its deadline on every read and write: a live transfer may take long, a stall may not.
type idleConn struct{ net.Conn }

func (c idleConn) Read(p []byte) (int, error) {
	c.SetReadDeadline(time.Now().Add(idleTimeout))
	return c.Conn.Read(p)
}

func (c idleConn) Write(p []byte) (int, error) {
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.Conn.Write(p)
}

// gateRequest is a request head as read: its request line, the headers to forward, and the token sent.
type gateRequest struct {
	line    string
	path    string
	headers []string
	token   string
}

// readGateHead reads a request head under the server's limits; a status to answer with when it cannot.
func readGateHead(br *bufio.Reader) (*gateRequest, int) {
	total := 0
	next := func() (string, int) {
		raw, err := br.ReadSlice('\n')
		total += len(raw)
		if err == bufio.ErrBufferFull || total > maxHeaderBytes {
			return "", 431
		}
		if err != nil {
			return "", -1
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r"), 0
	}
	line, status := next()
	if status != 0 {
		return nil, status
	}
	parts := strings.Split(line, " ")
	if len(parts) != 3 || parts[0] == "" || !strings.HasPrefix(parts[1], "/") || !strings.HasPrefix(parts[2], "HTTP/1.") {
		return nil, 400
	}
	req := &gateRequest{line: line, path: parts[1]}
	for n := 0; ; n++ {
		h, status := next()
		if status != 0 || n > maxHeaderLines {
			return nil, max(status, 431)
		}
		if h == "" {
			return req, 0
		}
		colon := strings.IndexByte(h, ':')
		if colon <= 0 || h[0] == ' ' || h[0] == '\t' {
			return nil, 400
		}
		switch strings.ToLower(h[:colon]) {
		case pushTokenHeader:
			req.token = strings.TrimSpace(h[colon+1:])
		case "authorization", "proxy-authorization", "connection", "keep-alive", "proxy-connection":
			// the gate's own credentials replace any; every connection ends after one request
		default:
			req.headers = append(req.headers, h)
		}
	}
}

func (g *gate) serveConn(raw net.Conn) {
	defer raw.Close()
	c := idleConn{raw}
	br := bufio.NewReaderSize(c, 4096)
	req, status := readGateHead(br)
	if req == nil {
		if status > 0 {
			gateAnswer(c, status, "UNSUPPORTED", statusText(status))
		}
		return
	}
	if req.path == readyPath {
		if err := g.ready(); err != nil {
			gateAnswer(c, 503, "UNAVAILABLE", err.Error())
		} else {
			gateAnswer(c, 200, "", "")
		}
		return
	}
	if subtle.ConstantTimeCompare([]byte(req.token), g.token) != 1 {
		gateAnswer(c, 401, "UNAUTHORIZED", "the push token is missing or wrong")
		return
	}
	up, err := net.DialTimeout("tcp", g.upstream, 10*time.Second)
	if err != nil {
		gateAnswer(c, 502, "UNAVAILABLE", "the registry does not answer: "+err.Error())
		return
	}
	defer up.Close()
	u := idleConn{up}
	var head strings.Builder
	head.WriteString(req.line + "\r\n")
	for _, h := range req.headers {
		head.WriteString(h + "\r\n")
	}
	head.WriteString("Authorization: " + g.auth + "\r\nConnection: close\r\n\r\n")
	if _, err := io.WriteString(u, head.String()); err != nil {
		gateAnswer(c, 502, "UNAVAILABLE", "the registry closed the connection")
		return
	}
	// The body (what br holds already, then the connection) goes up while the answer comes down; the
	// answer ends the exchange, as the registry closes its side after it (Connection: close).
	go func() {
		io.Copy(u, br)
		if tcp, ok := up.(*net.TCPConn); ok {
			tcp.CloseWrite()
		}
	}()
	io.Copy(c, u)
}

// ready: the registry answers GET /v2/ with 200 to the gate's credentials.
func (g *gate) ready() error {
	up, err := net.DialTimeout("tcp", g.upstream, 2*time.Second)
	if err != nil {
		return err
	}
	defer up.Close()
	up.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(up, "GET /v2/ HTTP/1.1\r\nHost: "+g.upstream+"\r\nAuthorization: "+g.auth+"\r\nConnection: close\r\n\r\n")
	line, err := bufio.NewReader(up).ReadString('\n')
	if err != nil {
		return err
	}
	if parts := strings.SplitN(line, " ", 3); len(parts) < 2 || parts[1] != "200" {
		return errorString("the registry answers " + strconv.Quote(strings.TrimSpace(line)) + " to the gate's credentials")
	}
	return nil
}

// gateAnswer writes a whole response in the distribution spec's error format (an empty body for 200).
func gateAnswer(c io.Writer, status int, code, message string) {
	body := ""
	if status != 200 {
		body = `{"errors":[{"code":` + strconv.Quote(code) + `,"message":` + strconv.Quote(message) + `}]}`
	}
	io.WriteString(c, "HTTP/1.1 "+strconv.Itoa(status)+" "+statusText(status)+"\r\nContent-Type: application/json\r\n"+
		"Content-Length: "+strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+body)
}
