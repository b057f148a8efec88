package main

// The receiver: a token allows one request and only the script the control channel gave with it; the
// body reaches the command whole (chunked or of known length); the answer carries the exit code and the
// command's output; a body cut short kills the command. The command here is /bin/sh -c, as on a node.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func startReceiver(t *testing.T) (base string, allow func(script string) string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := newReceiver([]string{"/bin/sh", "-c"})
	r.tokenWait = 50 * time.Millisecond
	control, feed := io.Pipe()
	t.Cleanup(func() { feed.Close() })
	go r.readControl(control)
	go acceptConns(ln, r.serveConn)
	allow = func(script string) string {
		raw := make([]byte, 32)
		rand.Read(raw)
		token := hex.EncodeToString(raw)
		// Written after a moment, as when the request overtakes its control line: the request waits for it.
		go func() {
			time.Sleep(20 * time.Millisecond)
			feed.Write([]byte(token + " " + base64.StdEncoding.EncodeToString([]byte(script)) + "\n"))
		}()
		return token
	}
	return "http://" + ln.Addr().String(), allow
}

func put(t *testing.T, url, token string, body io.Reader, length int64) (int, runResult) {
	req, err := http.NewRequest("PUT", url+"/run", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length // -1: chunked
	if token != "" {
		req.Header.Set("X-Lading-Token", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var result runResult
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode == 200 {
		if err := json.Unmarshal(raw, &result); err != nil {
			t.Fatalf("answer %q: %v", raw, err)
		}
	}
	return res.StatusCode, result
}

func TestReceiveRunsTheScriptWithTheBody(t *testing.T) {
	url, allow := startReceiver(t)
	payload := bytes.Repeat([]byte("lading\n"), 300_000) // 2.1 MB, more than one read
	for _, length := range []int64{int64(len(payload)), -1} {
		token := allow(`wc -c; echo to-stderr >&2; exit 3`)
		status, result := put(t, url, token, bytes.NewReader(payload), length)
		if status != 200 || result.ExitCode != 3 || strings.TrimSpace(result.Stdout) != "2100000" || result.Stderr != "to-stderr\n" {
			t.Fatalf("length %d: status %d, %+v", length, status, result)
		}
	}
}

func TestReceiveTokensAreSingleUseAndRequired(t *testing.T) {
	url, allow := startReceiver(t)
	if status, _ := put(t, url, "", strings.NewReader("x"), 1); status != 403 {
		t.Fatalf("no token: status %d", status)
	}
	if status, _ := put(t, url, strings.Repeat("0", 64), strings.NewReader("x"), 1); status != 403 {
		t.Fatalf("unknown token: status %d", status)
	}
	token := allow("cat >/dev/null")
	if status, result := put(t, url, token, strings.NewReader("x"), 1); status != 200 || result.ExitCode != 0 {
		t.Fatalf("first use: status %d %+v", status, result)
	}
	if status, _ := put(t, url, token, strings.NewReader("x"), 1); status != 403 {
		t.Fatalf("second use: status %d", status)
	}
	res, err := http.Get(url + "/ready")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("ready: %v %v", res, err)
	}
	res.Body.Close()
}

func TestReceiveACommandThatStopsReadingStillAnswers(t *testing.T) {
	url, allow := startReceiver(t)
	token := allow(`head -c 10 >/dev/null; echo gave up >&2; exit 7`)
	status, result := put(t, url, token, bytes.NewReader(make([]byte, 8<<20)), -1)
	if status != 200 || result.ExitCode != 7 || result.Stderr != "gave up\n" {
		t.Fatalf("status %d, %+v", status, result)
	}
}

func TestReceiveABodyCutShortKillsTheCommand(t *testing.T) {
	url, allow := startReceiver(t)
	marker := filepath.Join(t.TempDir(), "finished")
	token := allow(`cat >/dev/null; touch ` + marker)
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "PUT /run HTTP/1.1\r\nHost: x\r\nX-Lading-Token: "+token+"\r\nContent-Length: 1000000\r\n\r\n")
	c.Write(make([]byte, 1000))
	c.(*net.TCPConn).CloseWrite()
	answer, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(answer), "HTTP/1.1 400 ") || !strings.Contains(string(answer), "cut short") {
		t.Fatalf("answer %q", answer)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the command went on after its input was cut short")
	}
}
