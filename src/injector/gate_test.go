package main

// The push gate: the token is required and never forwarded, the registry's credentials replace any the
// client sent, bodies pass through whole, and readiness follows the registry's answer. The upstream here
// is a loopback listener that records what reached it; the real registry is in test/integration.

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
)

// recordingUpstream answers every connection with `answer` after reading its head and Content-Length body.
func recordingUpstream(t *testing.T, answer string) (addr string, got chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			var head strings.Builder
			length := 0
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					break
				}
				head.WriteString(line)
				if strings.HasPrefix(strings.ToLower(line), "content-length:") {
					length = atoi(strings.TrimSpace(line[len("content-length:"):]))
				}
				if line == "\r\n" {
					break
				}
			}
			body := make([]byte, length)
			io.ReadFull(br, body)
			got <- head.String() + string(body)
			io.WriteString(c, answer)
			c.Close()
		}
	}()
	return ln.Addr().String(), got
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

// exchange sends one raw request through a gate and returns the raw answer.
func exchange(t *testing.T, g *gate, request string) string {
	client, server := net.Pipe()
	go g.serveConn(server)
	go io.WriteString(client, request)
	answer, _ := io.ReadAll(client)
	return string(answer)
}

func TestGate(t *testing.T) {
	upstream, got := recordingUpstream(t, "HTTP/1.1 202 Accepted\r\nLocation: /v2/a/blobs/uploads/1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	g := &gate{upstream: upstream, token: []byte("s3cret-token"), auth: "Basic dTpw"}

	for _, token := range []string{"", "X-Lading-Push-Token: wrong\r\n", "X-Lading-Push-Token: s3cret-toke\r\n"} {
		answer := exchange(t, g, "POST /v2/a/blobs/uploads/ HTTP/1.1\r\nHost: h\r\n"+token+"Content-Length: 0\r\n\r\n")
		if !strings.HasPrefix(answer, "HTTP/1.1 401 ") || !strings.Contains(answer, `"code":"UNAUTHORIZED"`) {
			t.Errorf("token %q: %q", token, answer)
		}
	}
	select {
	case r := <-got:
		t.Fatalf("a request without the right token reached the registry: %q", r)
	default:
	}

	answer := exchange(t, g, "PATCH /v2/a/blobs/uploads/1 HTTP/1.1\r\nHost: h\r\nx-lading-push-token: s3cret-token\r\n"+
		"Authorization: Bearer from-the-client\r\nConnection: keep-alive\r\nContent-Length: 11\r\n\r\nhello world")
	if !strings.HasPrefix(answer, "HTTP/1.1 202 Accepted") || !strings.Contains(answer, "Location: /v2/a/blobs/uploads/1") {
		t.Errorf("forwarded answer: %q", answer)
	}
	forwarded := <-got
	for _, want := range []string{"PATCH /v2/a/blobs/uploads/1 HTTP/1.1\r\n", "Host: h\r\n", "Authorization: Basic dTpw\r\n", "Connection: close\r\n", "\r\n\r\nhello world"} {
		if !strings.Contains(forwarded, want) {
			t.Errorf("forwarded request lacks %q: %q", want, forwarded)
		}
	}
	for _, gone := range []string{"s3cret-token", "from-the-client", "keep-alive"} {
		if strings.Contains(forwarded, gone) {
			t.Errorf("forwarded request still carries %q: %q", gone, forwarded)
		}
	}
}

func TestGateReadiness(t *testing.T) {
	ok, _ := recordingUpstream(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
	if answer := exchange(t, &gate{upstream: ok, token: []byte("t"), auth: "Basic dTpw"}, "GET /lading-gate/ready HTTP/1.1\r\n\r\n"); !strings.HasPrefix(answer, "HTTP/1.1 200 ") {
		t.Errorf("ready: %q", answer)
	}
	refused, _ := recordingUpstream(t, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
	if answer := exchange(t, &gate{upstream: refused, token: []byte("t"), auth: "Basic dTpw"}, "GET /lading-gate/ready HTTP/1.1\r\n\r\n"); !strings.HasPrefix(answer, "HTTP/1.1 503 ") || !strings.Contains(answer, "401 Unauthorized") {
		t.Errorf("not ready: %q", answer)
	}
	if answer := exchange(t, &gate{upstream: "127.0.0.1:1", token: []byte("t"), auth: "Basic dTpw"}, "GET /lading-gate/ready HTTP/1.1\r\n\r\n"); !strings.HasPrefix(answer, "HTTP/1.1 503 ") {
		t.Errorf("no registry: %q", answer)
	}
}
