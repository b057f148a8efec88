package main

// `injector receive`: the fast way into a node. lading's node agent (a privileged pod with the host's / at
// /host) starts it through exec, then the API server proxies one PUT per import to it (pods/proxy). That
// path costs the API server a fraction of exec's stream (no WebSocket frames to unmask, no SPDY to the
// kubelet), and the kubelet and the runtime's stream server drop out of it altogether.
//
//	injector receive [-listen :7070] [-remove-self] -- COMMAND [ARG...]
//
// Standard input is lading's control channel (the exec session, encrypted up to the kubelet): each line
// "TOKEN BASE64-SCRIPT" allows one request. PUT /run with header X-Lading-Token: TOKEN runs
// COMMAND ARG... SCRIPT with the request body as its standard input and answers once it has exited:
// 200 and {"exitCode":N,"stdout":"...","stderr":"..."} (the last 64 KiB of each). A token is forgotten when
// its request arrives, so one read off the pod network is already spent, and the script never crosses it.
// GET /ready answers 200 without a token. The body is never stored: a body cut short kills the command
// (its whole process group) and answers 400. The end of standard input (lading done, or its connection
// gone) kills a running command and stops the receiver. -remove-self deletes the program's file once it
// runs, so nothing stays on the node whatever happens next.

import (
	"bufio"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	receiveTokenHeader = "x-lading-token"
	receiveTailBytes   = 64 << 10
	readAheadBuffers   = 16 // MiB held between the network and the command
	receiveUsage       = "usage: injector receive [-listen ADDRESS] [-remove-self] -- COMMAND [ARG...]\n" +
		"  -listen ADDRESS  where to listen (default :7070)\n" +
		"  -remove-self     delete this program's file once it runs\n" +
		"  stdin: lines \"TOKEN BASE64-SCRIPT\", each allowing one PUT /run (header X-Lading-Token)\n"
)

type receiver struct {
	command   []string
	tokenWait time.Duration // how long a request waits for its token's control line
	mu        sync.Mutex
	scripts   map[string]string // token -> script, until its request arrives
	running   map[int]struct{}  // process groups of running commands
}

func newReceiver(command []string) *receiver {
	return &receiver{command: command, tokenWait: 10 * time.Second, scripts: map[string]string{}, running: map[int]struct{}{}}
}

func runReceive(args []string) {
	listen, removeSelf := ":7070", false
	var command []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-h" || a == "--help":
			os.Stdout.WriteString(receiveUsage)
			os.Exit(0)
		case a == "-listen" || a == "--listen":
			if i+1 >= len(args) {
				fail("receive: -listen needs an address\n"+receiveUsage, 2)
			}
			i++
			listen = args[i]
		case a == "-remove-self" || a == "--remove-self":
			removeSelf = true
		case a == "--":
			command = args[i+1:]
			i = len(args)
		default:
			fail("receive: unknown argument "+strconv.Quote(a)+"\n"+receiveUsage, 2)
		}
	}
	if len(command) == 0 {
		fail("receive: no command given\n"+receiveUsage, 2)
	}
	if removeSelf && filepath.IsAbs(os.Args[0]) {
		if err := os.Remove(os.Args[0]); err != nil {
			logLine("receive: cannot remove " + os.Args[0] + ": " + err.Error())
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fail("receive: cannot listen on "+listen+": "+err.Error(), 1)
	}
	r := newReceiver(command)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		r.stopAll()
		os.Exit(0)
	}()
	go func() {
		r.readControl(os.Stdin)
		// lading is done, or gone: nothing more may run.
		r.stopAll()
		logLine("receive: control channel closed, stopping")
		os.Exit(0)
	}()
	logLine("receive: listening on " + ln.Addr().String())
	if err := acceptConns(ln, r.serveConn); err != nil {
		fail(err.Error(), 1)
	}
}

// readControl takes "TOKEN BASE64-SCRIPT" lines until the control channel ends.
func (r *receiver) readControl(in io.Reader) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		token, encoded, ok := strings.Cut(sc.Text(), " ")
		script, err := base64.StdEncoding.DecodeString(encoded)
		if !ok || len(token) < 32 || err != nil {
			logLine("receive: ignoring a malformed control line")
			continue
		}
		r.mu.Lock()
		r.scripts[token] = string(script)
		r.mu.Unlock()
	}
}

// take returns the script a token allows and forgets the token (compared in constant time). The control
// line and the request travel different paths, so a token not known yet is waited for, a little.
func (r *receiver) take(token string) (string, bool) {
	if token == "" {
		return "", false
	}
	deadline := time.Now().Add(r.tokenWait)
	for {
		if script, ok := r.takeKnown(token); ok {
			return script, true
		}
		if time.Now().After(deadline) {
			return "", false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *receiver) takeKnown(token string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for known, script := range r.scripts {
		if subtle.ConstantTimeCompare([]byte(known), []byte(token)) == 1 {
			delete(r.scripts, known)
			return script, true
		}
	}
	return "", false
}

func (r *receiver) stopAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for pgid := range r.running {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// timedConn gives every read its own deadline: a body may take long, but never stall for long.
type timedConn struct{ net.Conn }

func (c timedConn) Read(p []byte) (int, error) {
	c.SetReadDeadline(time.Now().Add(idleTimeout))
	return c.Conn.Read(p)
}

// serveConn answers one request per connection (Connection: close).
func (r *receiver) serveConn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(timedConn{c}, 64<<10)
	bw := bufio.NewWriterSize(deadlineConn{c}, 4<<10)
	req, status := readRequest(br)
	switch {
	case req == nil:
		if status != 0 {
			reply(bw, status, []byte(statusText(status)+"\n"))
		}
	case req.path == "/ready" && (req.method == "GET" || req.method == "HEAD"):
		reply(bw, 200, []byte("ready\n"))
	case req.path == "/run" && req.method == "PUT":
		r.run(req, br, bw)
	case req.path == "/run" || req.path == "/ready":
		reply(bw, 405, []byte("method not allowed\n"))
	default:
		reply(bw, 404, []byte("not found\n"))
	}
}

type runResult struct {
	ExitCode int    `json:"exitCode"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
}

func (r *receiver) run(req *request, br *bufio.Reader, bw *bufio.Writer) {
	script, ok := r.take(req.headers[receiveTokenHeader])
	if !ok {
		reply(bw, 403, []byte("unknown or spent token\n"))
		return
	}
	body, status := requestBody(req, br)
	if body == nil {
		reply(bw, status, []byte(statusText(status)+"\n"))
		return
	}
	var stdout, stderr tail
	cmd := exec.Command(r.command[0], append(append([]string{}, r.command[1:]...), script)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stdin, err := commandStdin(cmd)
	if err == nil {
		err = cmd.Start()
		cmd.Stdin.(*os.File).Close() // the command's end: its own now (or nobody's)
		if err != nil {
			stdin.Close()
		}
	}
	if err != nil {
		io.Copy(io.Discard, body)
		replyJSON(bw, 200, runResult{ExitCode: -1, Stderr: "receive: cannot start the command: " + err.Error()})
		return
	}
	pgid := cmd.Process.Pid
	r.mu.Lock()
	r.running[pgid] = struct{}{}
	r.mu.Unlock()
	bodyErr := pump(stdin, body)
	if bodyErr != nil {
		// Killed before its input ends: an end of input would tell it the stream was whole.
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
	stdin.Close()
	cmd.Wait()
	r.mu.Lock()
	delete(r.running, pgid)
	r.mu.Unlock()
	if bodyErr != nil {
		logLine("receive: the request body was cut short: " + bodyErr.Error())
		replyJSON(bw, 400, runResult{ExitCode: -1, Stderr: "receive: the request body was cut short: " + bodyErr.Error()})
		return
	}
	replyJSON(bw, 200, runResult{ExitCode: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String()})
}

// commandStdin gives the command a pipe of 1 MiB (the most an unprivileged pipe may have by default;
// 64 KiB otherwise), so it can read in large pieces.
func commandStdin(cmd *exec.Cmd) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), syscall.F_SETPIPE_SZ, 1<<20) // best effort
	cmd.Stdin = r
	return w, nil
}

// pump copies the body into the command through a read-ahead of up to readAheadBuffers MiB, so the
// network keeps flowing while the command is busy (and the command while the network is slow). If the
// command stops reading (it failed), the rest of the body is read and dropped, so the sender gets the
// answer with the command's own words rather than a broken pipe. Only a body that cannot be read to its
// end is an error.
func pump(stdin io.Writer, body io.Reader) error {
	const size = 1 << 20
	free := make(chan []byte, readAheadBuffers)
	for i := 0; i < readAheadBuffers; i++ {
		free <- make([]byte, size)
	}
	full := make(chan []byte, readAheadBuffers)
	readErr := make(chan error, 1)
	go func() {
		defer close(full)
		for buf := range free {
			n, err := 0, error(nil)
			for n < size && err == nil {
				var m int
				m, err = body.Read(buf[n:])
				n += m
			}
			if n > 0 {
				full <- buf[:n]
			}
			if errors.Is(err, io.EOF) {
				readErr <- nil
				return
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	for buf := range full {
		if stdin != nil {
			if _, err := stdin.Write(buf); err != nil {
				stdin = nil
			}
		}
		free <- buf[:cap(buf)]
	}
	return <-readErr
}

// requestBody reads a body of known length or a chunked one; nil and a status when there is none to read.
func requestBody(req *request, br *bufio.Reader) (io.Reader, int) {
	if te := strings.ToLower(req.headers["transfer-encoding"]); te != "" {
		if te != "chunked" {
			return nil, 400
		}
		return &chunkedReader{r: br}, 0
	}
	length, err := strconv.ParseInt(req.headers["content-length"], 10, 64)
	if err != nil || length < 0 {
		return nil, 411
	}
	return &exactReader{r: br, left: length}, 0
}

// exactReader reads exactly `left` bytes: an earlier end is io.ErrUnexpectedEOF.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if errors.Is(err, io.EOF) && e.left > 0 {
		err = io.ErrUnexpectedEOF
	} else if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// chunkedReader decodes HTTP/1.1 chunked transfer coding (RFC 9112 §7.1); trailers are read and dropped.
type chunkedReader struct {
	r    *bufio.Reader
	left int64 // bytes of the current chunk still to read
	err  error
}

func (c *chunkedReader) line() (string, error) {
	raw, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimRight(string(raw), "\r\n"), nil
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.left == 0 {
		head, err := c.line()
		if err != nil {
			c.err = err
			return 0, err
		}
		size, _, _ := strings.Cut(head, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		if err != nil || n < 0 {
			c.err = errors.New("malformed chunk size " + strconv.Quote(head))
			return 0, c.err
		}
		if n == 0 {
			for {
				trailer, err := c.line()
				if err != nil {
					c.err = err
					return 0, err
				}
				if trailer == "" {
					c.err = io.EOF
					return 0, io.EOF
				}
			}
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		c.err = err
		return n, err
	}
	if c.left == 0 {
		if crlf, err := c.line(); err != nil || crlf != "" {
			c.err = errors.New("a chunk does not end where its size says")
			return n, c.err
		}
	}
	return n, nil
}

// tail keeps the last receiveTailBytes written to it.
type tail struct{ buf []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > receiveTailBytes {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-receiveTailBytes:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.buf) }

func reply(bw *bufio.Writer, status int, body []byte) {
	replyTyped(bw, status, "text/plain; charset=utf-8", body)
}

func replyJSON(bw *bufio.Writer, status int, v runResult) {
	body, _ := json.Marshal(v)
	replyTyped(bw, status, "application/json", body)
}

func replyTyped(bw *bufio.Writer, status int, contentType string, body []byte) {
	bw.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + statusText(status) + "\r\nContent-Type: " + contentType +
		"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n")
	bw.Write(body)
	bw.Flush()
}
