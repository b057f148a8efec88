// Command toolbox is the e2e specs' helper inside the test node (the node has no shell or tools of its own).
//
//	toolbox sha256        reads stdin to EOF, prints "<hex sha256> <byte count>"
//	toolbox serve ADDR    serves GET /blob?size=N (N deterministic bytes, default 1 MiB) and GET /healthz
//
// The blob is the concatenation of sha256("lading-e2e-blob-<i>") for i = 0, 1, ...; the specs compute
// the same bytes to compare what comes back through the API server's pod proxy.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: toolbox sha256 | toolbox serve ADDR")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "sha256":
		h := sha256.New()
		n, err := io.Copy(h, bufio.NewReaderSize(os.Stdin, 1<<20))
		if err != nil {
			fmt.Fprintln(os.Stderr, "read stdin:", err)
			os.Exit(1)
		}
		fmt.Printf("%s %d\n", hex.EncodeToString(h.Sum(nil)), n)
	case "serve":
		addr := ":8080"
		if len(os.Args) > 2 {
			addr = os.Args[2]
		}
		http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
		http.HandleFunc("/blob", serveBlob)
		fmt.Fprintln(os.Stderr, "toolbox serving on", addr)
		if err := http.ListenAndServe(addr, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown command:", os.Args[1])
		os.Exit(2)
	}
}

func serveBlob(w http.ResponseWriter, r *http.Request) {
	size := int64(1 << 20)
	if s := r.URL.Query().Get("size"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > 1<<30 {
			http.Error(w, "bad size", http.StatusBadRequest)
			return
		}
		size = n
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	bw := bufio.NewWriterSize(w, 64<<10)
	for i := int64(0); size > 0; i++ {
		block := sha256.Sum256([]byte("lading-e2e-blob-" + strconv.FormatInt(i, 10)))
		n := min(size, int64(len(block)))
		if _, err := bw.Write(block[:n]); err != nil {
			return
		}
		size -= n
	}
	bw.Flush()
}
