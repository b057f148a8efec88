package main

// The payload: the chunk index lading writes (src/core/configmap/payload.ts) and the chunk files the
// kubelet mounts, a directory per ConfigMap and a file per key. The index is checked as strictly as
// any input from outside: it names only files inside the mounted directories, sizes add up, digests,
// names and media types are well formed (they end up in response headers).

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
)

const (
	indexSchema  = "lading.dev/injector-payload/v1"
	indexKey     = "index.json"
	maxIndex     = 8 << 20  // far above what one ConfigMap holds
	maxChunk     = 1 << 20  // a ConfigMap holds at most 1 MiB of data
	maxManifest  = 4 << 20  // as registries bound manifests
	stateUnknown = int32(0) // not hashed yet
	stateGood    = int32(1)
	stateBad     = int32(2)
)

type chunk struct {
	ConfigMap string `json:"configMap"`
	Key       string `json:"key"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	path      string
}

type blob struct {
	Digest    string   `json:"digest"`
	Size      int64    `json:"size"`
	MediaType string   `json:"mediaType"`
	Manifest  bool     `json:"manifest"`
	Chunks    []*chunk `json:"chunks"`
	state     atomic.Int32
}

type repository struct {
	Name string            `json:"name"`
	Tags map[string]string `json:"tags"`
}

type index struct {
	Schema       string        `json:"schema"`
	Payload      string        `json:"payload"`
	Platform     string        `json:"platform"`
	Repositories []*repository `json:"repositories"`
	Blobs        []*blob       `json:"blobs"`
}

type payload struct {
	id           string
	blobs        map[string]*blob
	order        []*blob
	repositories map[string]*repository
	bytes        int64
}

// loadPayload finds the one index.json among the ConfigMap directories and checks it against them.
// A ConfigMap's name is its directory's base name (the pod mounts each at .../<name>).
func loadPayload(dirs []string) (*payload, error) {
	byName := map[string]string{}
	indexPath := ""
	for _, dir := range dirs {
		name := filepath.Base(filepath.Clean(dir))
		if _, dup := byName[name]; dup {
			return nil, errors.New("two payload directories are named " + name)
		}
		byName[name] = dir
		if st, err := os.Stat(filepath.Join(dir, indexKey)); err == nil && st.Mode().IsRegular() {
			if indexPath != "" {
				return nil, errors.New("more than one payload directory holds " + indexKey)
			}
			indexPath = filepath.Join(dir, indexKey)
		}
	}
	if indexPath == "" {
		return nil, errors.New("no payload directory holds " + indexKey + " (the chunk index)")
	}
	raw, err := readLimited(indexPath, maxIndex)
	if err != nil {
		return nil, err
	}
	var ix index
	if err := json.Unmarshal(raw, &ix); err != nil {
		return nil, errors.New(indexPath + ": not a valid chunk index: " + err.Error())
	}
	if ix.Schema != indexSchema {
		return nil, errors.New(indexPath + ": schema " + strconv.Quote(ix.Schema) + ", this injector reads " + indexSchema)
	}
	p := &payload{id: ix.Payload, blobs: map[string]*blob{}, repositories: map[string]*repository{}}
	for _, b := range ix.Blobs {
		if err := checkBlob(b, byName); err != nil {
			return nil, errors.New(indexPath + ": " + err.Error())
		}
		if p.blobs[b.Digest] != nil {
			return nil, errors.New(indexPath + ": blob " + b.Digest + " is listed twice")
		}
		p.blobs[b.Digest] = b
		p.order = append(p.order, b)
		p.bytes += b.Size
	}
	for _, r := range ix.Repositories {
		if err := p.checkRepository(r); err != nil {
			return nil, errors.New(indexPath + ": " + err.Error())
		}
		p.repositories[r.Name] = r
	}
	return p, nil
}

func checkBlob(b *blob, dirs map[string]string) error {
	if b == nil || !validDigest(b.Digest) {
		return errors.New("a blob has no valid sha256 digest")
	}
	if !validMediaType(b.MediaType) {
		return errors.New("blob " + b.Digest + " has an invalid media type")
	}
	if b.Size < 0 || (b.Manifest && b.Size > maxManifest) {
		return errors.New("blob " + b.Digest + " has an invalid size")
	}
	var sum int64
	for i, c := range b.Chunks {
		where := "blob " + b.Digest + " chunk " + strconv.Itoa(i)
		dir, ok := dirs[c.ConfigMap]
		if !ok {
			return errors.New(where + ": ConfigMap " + strconv.Quote(c.ConfigMap) + " is not mounted")
		}
		if !validKey(c.Key) || !validHex(c.SHA256) || c.Size <= 0 || c.Size > maxChunk {
			return errors.New(where + ": invalid key, sha256 or size")
		}
		c.path = filepath.Join(dir, c.Key)
		sum += c.Size
	}
	if sum != b.Size {
		return errors.New("blob " + b.Digest + ": its chunks hold " + strconv.FormatInt(sum, 10) + " bytes, not " + strconv.FormatInt(b.Size, 10))
	}
	return nil
}

func (p *payload) checkRepository(r *repository) error {
	if r == nil || !validRepository(r.Name) {
		return errors.New("a repository has an invalid name")
	}
	for tag, digest := range r.Tags {
		if !validTag(tag) {
			return errors.New("repository " + r.Name + " has an invalid tag")
		}
		if b := p.blobs[digest]; b == nil || !b.Manifest {
			return errors.New(r.Name + ":" + tag + " points at " + strconv.Quote(digest) + ", not a manifest of the payload")
		}
	}
	return nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, errors.New(path + ": larger than " + strconv.FormatInt(limit, 10) + " bytes")
	}
	return raw, nil
}

func validHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

func validDigest(s string) bool { return strings.HasPrefix(s, "sha256:") && validHex(s[7:]) }

// validKey: a ConfigMap key ([-._a-zA-Z0-9]+), and not one of the kubelet's own ".." entries.
func validKey(s string) bool {
	if s == "" || len(s) > 253 || strings.HasPrefix(s, "..") || s == "." {
		return false
	}
	return allOf(s, func(c byte) bool { return isAlnum(c) || c == '-' || c == '.' || c == '_' })
}

// validMediaType: type/subtype with RFC 6838 characters only, so it is safe in a header.
func validMediaType(s string) bool {
	slash := strings.IndexByte(s, '/')
	ok := func(c byte) bool { return isAlnum(c) || strings.IndexByte("!#$&^_.+-", c) >= 0 }
	return slash > 0 && slash < len(s)-1 && len(s) <= 255 && allOf(s[:slash], ok) && allOf(s[slash+1:], ok)
}

// validRepository: the distribution spec's name grammar, components separated by '/'.
func validRepository(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, part := range strings.Split(s, "/") {
		if part == "" || !isLowerAlnum(part[0]) || !isLowerAlnum(part[len(part)-1]) {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if isLowerAlnum(c) || c == '-' {
				continue
			}
			if (c == '.' || c == '_') && isLowerAlnum(part[i-1]) && (isLowerAlnum(part[i+1]) || c == '_' && part[i+1] == '_') {
				continue
			}
			if c == '_' && part[i-1] == '_' && isLowerAlnum(part[i+1]) {
				continue
			}
			return false
		}
	}
	return true
}

// validTag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
func validTag(s string) bool {
	if s == "" || len(s) > 128 || !(isAlnum(s[0]) || s[0] == '_') {
		return false
	}
	return allOf(s, func(c byte) bool { return isAlnum(c) || c == '_' || c == '.' || c == '-' })
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isAlnum(c byte) bool      { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }
func allOf(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}
