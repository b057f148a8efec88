package main

// A minimal HTTP/1.1 server on net, enough for registry pulls: request line and headers read under
// limits and deadlines, keep-alive, no request bodies (a request with one is answered and the connection
// closed). net/http would double the binary's size, and every 768 KiB is one more ConfigMap.

import (
	"bufio"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"
)

const (
	maxConnections = 64
	maxHeaderBytes = 32 << 10
	maxHeaderLines = 100
	idleTimeout    = 60 * time.Second // for a request's head, and between requests
	writeTimeout   = 60 * time.Second // for each write of a response
)

type request struct {
	method  string
	path    string // percent-decoded
	query   map[string]string
	headers map[string]string // lower-case names; a repeated header keeps its last value
	close   bool              // the connection ends after the response
}

type response struct {
	w      *bufio.Writer
	head   bool // HEAD: headers only
	close  bool
	broken bool // the body was cut short: the connection must end
}

// writeHead sends the status line and headers ("Name: value" each) with the body's length.
func (r *response) writeHead(status int, length int64, headers ...string) {
	r.w.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + statusText(status) + "\r\n")
	for _, h := range headers {
		r.w.WriteString(h + "\r\n")
	}
	r.w.WriteString("Content-Length: " + strconv.FormatInt(length, 10) + "\r\n")
	if r.close {
		r.w.WriteString("Connection: close\r\n")
	}
	r.w.WriteString("\r\n")
}

func (r *response) Write(p []byte) (int, error) {
	if r.head {
		return len(p), nil
	}
	return r.w.Write(p)
}

func statusText(status int) string {
	switch status {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 411:
		return "Length Required"
	case 431:
		return "Request Header Fields Too Large"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Internal Server Error"
}

// deadlineConn gives every write its own deadline, so a slow but live client can take a large blob.
type deadlineConn struct{ net.Conn }

func (c deadlineConn) Write(p []byte) (int, error) {
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.Conn.Write(p)
}

func serve(ln net.Listener, handle func(*request, *response)) error {
	return acceptConns(ln, func(c net.Conn) { serveConn(c, handle) })
}

// acceptConns serves each connection in its own goroutine, at most maxConnections at once, until the
// listener is closed.
func acceptConns(ln net.Listener, serveOne func(net.Conn)) error {
	slots := make(chan struct{}, maxConnections)
	for {
		slots <- struct{}{}
		c, err := ln.Accept()
		if err != nil {
			<-slots
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			time.Sleep(50 * time.Millisecond) // e.g. out of file descriptors: try again
			continue
		}
		go func() {
			defer func() { <-slots }()
			serveOne(c)
		}()
	}
}

func serveConn(c net.Conn, handle func(*request, *response)) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	bw := bufio.NewWriterSize(deadlineConn{c}, 64<<10)
	for {
		c.SetReadDeadline(time.Now().Add(idleTimeout))
		req, status := readRequest(br)
		if req == nil {
			if status != 0 {
				res := &response{w: bw, close: true}
				sendError(res, status, "UNSUPPORTED", statusText(status), "")
				bw.Flush()
			}
			return
		}
		res := &response{w: bw, head: req.method == "HEAD", close: req.close}
		handle(req, res)
		if res.broken || bw.Flush() != nil || res.close {
			return
		}
	}
}

// readRequest reads a request's head; nil and a status to answer with (0: just close) when it cannot.
func readRequest(br *bufio.Reader) (*request, int) {
	total := 0
	line := func() (string, int) {
		raw, err := br.ReadSlice('\n')
		total += len(raw)
		if errors.Is(err, bufio.ErrBufferFull) || total > maxHeaderBytes {
			return "", 431
		}
		if err != nil {
			return "", -1
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r"), 0
	}
	first, status := line()
	if status == -1 {
		return nil, 0 // closed or idle: no request
	} else if status != 0 {
		return nil, status
	}
	parts := strings.Split(first, " ")
	if len(parts) != 3 || parts[0] == "" || !strings.HasPrefix(parts[1], "/") {
		return nil, 400
	}
	req := &request{method: parts[0], headers: map[string]string{}}
	switch parts[2] {
	case "HTTP/1.1":
	case "HTTP/1.0":
		req.close = true
	default:
		return nil, 505
	}
	for n := 0; ; n++ {
		h, status := line()
		if status != 0 || n > maxHeaderLines {
			return nil, max(status, 431)
		}
		if h == "" {
			break
		}
		colon := strings.IndexByte(h, ':')
		if colon <= 0 || h[0] == ' ' || h[0] == '\t' {
			return nil, 400
		}
		name, value := strings.ToLower(h[:colon]), strings.TrimSpace(h[colon+1:])
		req.headers[name] = value
		switch {
		case name == "connection" && strings.Contains(strings.ToLower(value), "close"):
			req.close = true
		case name == "content-length" && value != "0", name == "transfer-encoding":
			req.close = true // a body this server does not read: the connection cannot be reused
		}
	}
	target, rawQuery, _ := strings.Cut(parts[1], "?")
	path, ok := unescape(target)
	if !ok {
		return nil, 400
	}
	req.path = path
	req.query = map[string]string{}
	for _, pair := range strings.Split(rawQuery, "&") {
		k, v, _ := strings.Cut(pair, "=")
		if k, ok := unescape(strings.ReplaceAll(k, "+", " ")); ok && k != "" {
			if v, ok := unescape(strings.ReplaceAll(v, "+", " ")); ok {
				req.query[k] = v
			}
		}
	}
	return req, 0
}

// unescape decodes %XX; false for a malformed escape.
func unescape(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		out = append(out, byte(v))
		i += 2
	}
	return string(out), true
}
