package main

// Blob bytes out of the chunk files, verified as they are read: a chunk is written to the client only
// after its own sha256 matched, and the last chunk only after the whole blob's digest matched, so a
// damaged blob never reaches a client whole. A blob that failed once is refused from then on, and its
// problem is logged once, in one line naming the blob, the chunk, its ConfigMap and key.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
)

// At most this many chunk buffers are in use at once: memory stays near maxStreams x maxChunk.
const maxStreams = 8

var (
	streams = make(chan struct{}, maxStreams)
	buffers = sync.Pool{New: func() any { b := make([]byte, maxChunk); return &b }}
)

// damage: the payload does not hold the bytes the index promises for a blob.
type damage struct{ message string }

func (d *damage) Error() string { return d.message }

// clientGone: writing to the client failed; nothing is wrong with the blob.
type clientGone struct{ err error }

func (c *clientGone) Error() string { return "client: " + c.err.Error() }

func damaged(b *blob, i int, problem string) error {
	where := "blob " + b.Digest + " (" + b.MediaType + ", " + strconv.FormatInt(b.Size, 10) + " bytes)"
	if i >= 0 {
		c := b.Chunks[i]
		where += ": chunk " + strconv.Itoa(i+1) + " of " + strconv.Itoa(len(b.Chunks)) + " (ConfigMap " + c.ConfigMap + ", key " + c.Key + ")"
	}
	return &damage{where + ": " + problem}
}

// markBad refuses the blob from now on; the first failure is the one logged.
func markBad(b *blob, err error) {
	if b.state.Swap(stateBad) != stateBad {
		logLine("refused " + err.Error() + "; it is not served")
	}
}

// readChunk reads chunk i into buf and checks its length and sha256.
func readChunk(b *blob, i int, buf []byte) ([]byte, error) {
	c := b.Chunks[i]
	f, err := os.Open(c.path)
	if err != nil {
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return nil, damaged(b, i, "cannot be read ("+err.Error()+")")
	}
	defer f.Close()
	data := buf[:c.Size]
	if n, err := io.ReadFull(f, data); err != nil {
		return nil, damaged(b, i, "holds "+strconv.Itoa(n)+" bytes, the index says "+strconv.FormatInt(c.Size, 10))
	}
	var extra [1]byte
	if n, _ := f.Read(extra[:]); n > 0 {
		return nil, damaged(b, i, "holds more than the "+strconv.FormatInt(c.Size, 10)+" bytes the index says")
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != c.SHA256 {
		return nil, damaged(b, i, "sha256 is "+hex.EncodeToString(sum[:])+", the index says "+c.SHA256)
	}
	return data, nil
}

// copyBlob writes the verified blob to w. ready runs once, before the first byte is written and after the
// first chunk (for most blobs: all of it) was verified, so the caller can still answer with an error status.
func copyBlob(b *blob, w io.Writer, ready func()) error {
	if b.state.Load() == stateBad {
		return &damage{"blob " + b.Digest + " was refused"}
	}
	streams <- struct{}{}
	defer func() { <-streams }()
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	whole := sha256.New()
	last := len(b.Chunks) - 1
	// One pass per chunk; an empty blob (no chunks) still takes one pass, for its digest check.
	for i := 0; i <= last || i == 0; i++ {
		var data []byte
		if last >= 0 {
			var err error
			if data, err = readChunk(b, i, *buf); err != nil {
				markBad(b, err)
				return err
			}
			whole.Write(data)
		}
		if i >= last {
			if got := "sha256:" + hex.EncodeToString(whole.Sum(nil)); got != b.Digest {
				err := damaged(b, -1, "its chunks match the index, but together their digest is "+got)
				markBad(b, err)
				return err
			}
			b.state.CompareAndSwap(stateUnknown, stateGood)
		}
		if i == 0 && ready != nil {
			ready()
		}
		if len(data) > 0 {
			if _, err := w.Write(data); err != nil {
				return &clientGone{err}
			}
		}
	}
	return nil
}

// verifyBlob hashes the whole blob once unless that was done; true when it is good.
func verifyBlob(b *blob) bool {
	if b.state.Load() == stateUnknown {
		_ = copyBlob(b, io.Discard, nil)
	}
	return b.state.Load() == stateGood
}

// readSmall returns a whole verified blob (manifests, bounded by maxManifest).
func readSmall(b *blob) ([]byte, error) {
	out := make([]byte, 0, b.Size)
	w := &appender{out}
	if err := copyBlob(b, w, nil); err != nil {
		return nil, err
	}
	return w.buf, nil
}

type appender struct{ buf []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.buf = append(a.buf, p...)
	return len(p), nil
}

// verifyAll hashes every blob in the background at start, so damage is logged before any client asks.
func (p *payload) verifyAll() {
	bad := 0
	for _, b := range p.order {
		if !verifyBlob(b) {
			bad++
		}
	}
	logLine("checked " + strconv.Itoa(len(p.order)) + " blobs: " + strconv.Itoa(len(p.order)-bad) + " good, " + strconv.Itoa(bad) + " refused")
}
