package main

// The pull side of the OCI distribution API over the payload: /v2/, manifests by tag and digest, blobs,
// tag lists and (empty) referrers; everything else that is not GET or HEAD gets 405 UNSUPPORTED. Error
// bodies are the spec's {"errors":[{"code","message","detail"}]}.

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const ociIndex = "application/vnd.oci.image.index.v1+json"

var apiVersion = "Docker-Distribution-API-Version: registry/2.0"

type registry struct {
	p         *payload
	firstOnce sync.Once
	started   time.Time
}

func sendJSON(res *response, status int, value any, headers ...string) {
	body, _ := json.Marshal(value)
	res.writeHead(status, int64(len(body)), append([]string{apiVersion, "Content-Type: application/json"}, headers...)...)
	res.Write(body)
}

func sendError(res *response, status int, code, message, detail string) {
	e := map[string]any{"code": code, "message": message}
	if detail != "" {
		e["detail"] = detail
	}
	sendJSON(res, status, map[string]any{"errors": []any{e}})
}

// route splits /v2/<name>/<kind>/<reference>; the name is everything before the last kind segment.
func route(path string) (kind, name, reference string) {
	if path == "/v2/" || path == "/v2" {
		return "base", "", ""
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return "", "", ""
	}
	if name, ok := strings.CutSuffix(rest, "/tags/list"); ok {
		return "tags", name, ""
	}
	for _, k := range []string{"manifests", "blobs", "referrers"} {
		if i := strings.LastIndex(rest, "/"+k+"/"); i > 0 {
			ref := rest[i+len(k)+2:]
			if ref != "" && !strings.Contains(ref, "/") {
				return k, rest[:i], ref
			}
		}
	}
	return "", "", ""
}

func (g *registry) handle(req *request, res *response) {
	if req.method != "GET" && req.method != "HEAD" {
		res.close = true // the request may carry a body this server does not read
		sendError(res, 405, "UNSUPPORTED", "this registry is read-only: it serves pulls only", "")
		return
	}
	kind, name, reference := route(req.path)
	if kind == "base" {
		sendJSON(res, 200, map[string]any{})
		return
	}
	if kind == "" {
		sendError(res, 404, "NAME_UNKNOWN", "no such endpoint", "")
		return
	}
	repo := g.p.repositories[name]
	if repo == nil {
		sendError(res, 404, "NAME_UNKNOWN", "repository name not known to registry", name)
		return
	}
	switch kind {
	case "tags":
		g.tags(req, res, repo)
	case "referrers":
		if !validDigest(reference) {
			sendError(res, 400, "DIGEST_INVALID", "not a sha256 digest", reference)
			return
		}
		// The payload carries no referrers: the spec's answer is an empty index, not a 404.
		headers := []string{}
		if _, ok := req.query["artifactType"]; ok {
			headers = append(headers, "OCI-Filters-Applied: artifactType")
		}
		body, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": ociIndex, "manifests": []any{}})
		res.writeHead(200, int64(len(body)), append([]string{apiVersion, "Content-Type: " + ociIndex}, headers...)...)
		res.Write(body)
	case "manifests":
		g.manifest(res, repo, reference)
	case "blobs":
		g.blob(res, reference)
	}
}

func (g *registry) tags(req *request, res *response, repo *repository) {
	tags := make([]string, 0, len(repo.Tags))
	for tag := range repo.Tags {
		if last, ok := req.query["last"]; !ok || tag > last {
			tags = append(tags, tag)
		}
	}
	sort.Strings(tags)
	headers := []string{}
	if n, err := strconv.Atoi(req.query["n"]); err == nil && n >= 0 && n < len(tags) {
		tags = tags[:n]
		next := "/v2/" + repo.Name + "/tags/list?n=" + strconv.Itoa(n)
		if n > 0 {
			next += "&last=" + tags[n-1]
		}
		headers = append(headers, "Link: <"+next+`>; rel="next"`)
	}
	sendJSON(res, 200, map[string]any{"name": repo.Name, "tags": tags}, headers...)
}

func (g *registry) manifest(res *response, repo *repository, reference string) {
	digest := reference
	if strings.Contains(reference, ":") {
		if !validDigest(reference) {
			sendError(res, 400, "DIGEST_INVALID", "not a sha256 digest", reference)
			return
		}
	} else if validTag(reference) {
		digest = repo.Tags[reference]
	}
	b := g.p.blobs[digest]
	if b == nil || !b.Manifest {
		sendError(res, 404, "MANIFEST_UNKNOWN", "manifest unknown", reference)
		return
	}
	body, err := readSmall(b)
	if err != nil {
		sendError(res, 500, "MANIFEST_UNKNOWN", "the payload holds damaged bytes for this manifest: it is not served", b.Digest)
		return
	}
	res.writeHead(200, b.Size, apiVersion, "Content-Type: "+b.MediaType, "Docker-Content-Digest: "+b.Digest, `ETag: "`+b.Digest+`"`)
	res.Write(body)
	g.firstOnce.Do(func() {
		logLine("first manifest served " + strconv.FormatInt(time.Since(g.started).Milliseconds(), 10) + " ms after start")
	})
}

func (g *registry) blob(res *response, digest string) {
	if !validDigest(digest) {
		sendError(res, 400, "DIGEST_INVALID", "not a sha256 digest", digest)
		return
	}
	b := g.p.blobs[digest]
	if b == nil {
		sendError(res, 404, "BLOB_UNKNOWN", "blob unknown to registry", digest)
		return
	}
	headers := []string{apiVersion, "Content-Type: application/octet-stream", "Docker-Content-Digest: " + b.Digest, `ETag: "` + b.Digest + `"`}
	refuse := func() {
		sendError(res, 500, "BLOB_UNKNOWN", "the payload holds damaged bytes for this blob: it is not served", b.Digest)
	}
	if res.head {
		// HEAD promises the blob: it is hashed whole first (once).
		if !verifyBlob(b) {
			refuse()
			return
		}
		res.writeHead(200, b.Size, headers...)
		return
	}
	started := false
	err := copyBlob(b, res, func() {
		started = true
		res.writeHead(200, b.Size, headers...)
	})
	if err != nil && !started {
		refuse()
	} else if err != nil {
		res.broken = true // the client sees a short body, never the damaged bytes
	}
}
