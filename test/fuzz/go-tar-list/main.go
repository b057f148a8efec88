// Lists a tar the way Go's archive/tar (containerd, skopeo) reads it: one JSON
// line per entry, then {"end":true}, or {"error":...} when Go refuses it.
// The fuzzer and the differential checks compare this with lading's reading.
package main

import (
	"archive/tar"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
)

type line struct {
	Name    string `json:"name,omitempty"`
	Type    string `json:"type,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Content string `json:"content,omitempty"`
	Error   string `json:"error,omitempty"`
	End     bool   `json:"end,omitempty"`
}

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	out := json.NewEncoder(os.Stdout)
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			out.Encode(line{End: true})
			return
		}
		if err != nil {
			out.Encode(line{Error: err.Error()})
			return
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			out.Encode(line{Error: err.Error()})
			return
		}
		out.Encode(line{Name: hdr.Name, Type: string([]byte{hdr.Typeflag}), Size: hdr.Size, Content: hex.EncodeToString(data)})
	}
}
