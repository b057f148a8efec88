package main

// Hostile and malformed input: request heads, routes, and chunk indexes that name files outside the
// mounted ConfigMaps or carry values that would end up in headers. Run by test/integration/injector.test.ts.

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadRequest(t *testing.T) {
	cases := []struct {
		head   string
		status int // 0: a request
		path   string
		close  bool
	}{
		{"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n", 0, "/v2/", false},
		{"HEAD /v2/a%2Fb/manifests/1 HTTP/1.1\r\n\r\n", 0, "/v2/a/b/manifests/1", false},
		{"GET /v2/ HTTP/1.0\r\n\r\n", 0, "/v2/", true},
		{"GET /v2/ HTTP/1.1\r\nConnection: close\r\n\r\n", 0, "/v2/", true},
		{"PUT /v2/x/blobs/uploads/ HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 0, "/v2/x/blobs/uploads/", true},
		{"GET /v2/ HTTP/2.0\r\n\r\n", 505, "", false},
		{"GET v2 HTTP/1.1\r\n\r\n", 400, "", false},
		{"GET /v2/%zz HTTP/1.1\r\n\r\n", 400, "", false},
		{"GET /v2/ HTTP/1.1\r\n folded: header\r\n\r\n", 400, "", false},
		{"GET /v2/ HTTP/1.1\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n", 431, "", false},
		{"GET /v2/ HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", 200) + "\r\n", 431, "", false},
		{"", 0, "", false},
	}
	for _, c := range cases {
		req, status := readRequest(bufio.NewReaderSize(strings.NewReader(c.head), 4096))
		if status != c.status || (req == nil) != (c.status != 0 || c.head == "") {
			t.Errorf("%.40q: status %d, request %v; want %d", c.head, status, req, c.status)
			continue
		}
		if req != nil && (req.path != c.path || req.close != c.close) {
			t.Errorf("%.40q: path %q close %v; want %q %v", c.head, req.path, req.close, c.path, c.close)
		}
	}
}

func TestRoute(t *testing.T) {
	cases := map[string][3]string{
		"/v2":                              {"base", "", ""},
		"/v2/a/b/manifests/1.0":            {"manifests", "a/b", "1.0"},
		"/v2/a/manifests/x/blobs/sha256:0": {"blobs", "a/manifests/x", "sha256:0"},
		"/v2/a/tags/list":                  {"tags", "a", ""},
		"/v2/a/referrers/sha256:0":         {"referrers", "a", "sha256:0"},
		"/v2/a/blobs/":                     {"", "", ""},
		"/v2/a/blobs/x/y":                  {"", "", ""},
		"/etc/passwd":                      {"", "", ""},
		"/v2/../../manifests/1":            {"manifests", "../..", "1"}, // a name no repository has: 404
	}
	for path, want := range cases {
		kind, name, ref := route(path)
		if [3]string{kind, name, ref} != want {
			t.Errorf("%s: %q %q %q; want %q", path, kind, name, ref, want)
		}
	}
}

func TestValidators(t *testing.T) {
	for _, ok := range []string{"a", "demo/web", "a.b/c_d/e__f/g-h", "demo.lading.local/demo/web"} {
		if !validRepository(ok) {
			t.Errorf("repository %q refused", ok)
		}
	}
	for _, bad := range []string{"", "A", "a//b", "/a", "a/", "a..b", "-a", "a_", "a:5000/b", "a/../b"} {
		if validRepository(bad) {
			t.Errorf("repository %q accepted", bad)
		}
	}
	for _, bad := range []string{"", "..data", "..", ".", "a/b", "../x", "a b"} {
		if validKey(bad) {
			t.Errorf("key %q accepted", bad)
		}
	}
	for _, bad := range []string{"text/plain\r\nX: y", "a", "/b", "a/", "a/b c"} {
		if validMediaType(bad) {
			t.Errorf("media type %q accepted", bad)
		}
	}
	if !validMediaType("application/vnd.oci.image.layer.v1.tar+gzip") || !validTag("1.0") || validTag(".x") || validTag(strings.Repeat("a", 129)) {
		t.Error("media type or tag rules")
	}
}

func TestHostileIndexes(t *testing.T) {
	digest := "sha256:" + strings.Repeat("a", 64)
	chunk := `{"configMap":"cm","key":"k","sha256":"` + strings.Repeat("b", 64) + `","size":3}`
	blob := func(fields string) string {
		return `{"schema":"` + indexSchema + `","repositories":[],"blobs":[{"digest":"` + digest + `","size":3,"mediaType":"a/b",` + fields + `}]}`
	}
	cases := map[string]string{
		"not json":              `{`,
		"other schema":          `{"schema":"x"}`,
		"unmounted map":         blob(`"chunks":[` + strings.Replace(chunk, `"cm"`, `"other"`, 1) + `]`),
		"traversal key":         blob(`"chunks":[` + strings.Replace(chunk, `"k"`, `"../cm/k"`, 1) + `]`),
		"kubelet key":           blob(`"chunks":[` + strings.Replace(chunk, `"k"`, `"..data"`, 1) + `]`),
		"sizes disagree":        blob(`"chunks":[` + strings.Replace(chunk, `"size":3`, `"size":2`, 1) + `]`),
		"huge chunk":            blob(`"chunks":[` + strings.Replace(chunk, `"size":3`, `"size":2000000`, 1) + `]`),
		"header injection":      strings.Replace(blob(`"chunks":[`+chunk+`]`), `"a/b"`, `"a/b\r\nX: y"`, 1),
		"tag to a non-manifest": strings.Replace(blob(`"chunks":[`+chunk+`]`), `"repositories":[]`, `"repositories":[{"name":"a","tags":{"1":"`+digest+`"}}]`, 1),
	}
	for name, index := range cases {
		dir := filepath.Join(t.TempDir(), "cm")
		os.Mkdir(dir, 0o755)
		os.WriteFile(filepath.Join(dir, indexKey), []byte(index), 0o644)
		if _, err := loadPayload([]string{dir}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
