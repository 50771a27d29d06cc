// refprobe parses image references with github.com/distribution/reference,
// the parser containerd and the kubelet use, so that tests can compare
// hostns.images with it. Input: one JSON string per line on stdin. Output:
// one JSON object per line, in order, written as soon as the line is read (so
// that a test can also keep one probe running and ask it one string at a time):
//
//	{"valid": bool, "error": str, "domain": str, "path": str, "tag": str,
//	 "digest": str, "string": str}
//
// "string" is the normalised reference as runtimes pull it: ParseNormalizedNamed
// then TagNameOnly (":latest" added when there is neither tag nor digest).
package main

import (
	"bufio"
	// The runtimes link these (TLS does), which registers the digest
	// algorithms go-digest accepts: sha256, sha384, sha512.
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/json"
	"fmt"
	"os"

	"github.com/distribution/reference"
)

type result struct {
	Valid  bool   `json:"valid"`
	Error  string `json:"error"`
	Domain string `json:"domain"`
	Path   string `json:"path"`
	Tag    string `json:"tag"`
	Digest string `json:"digest"`
	String string `json:"string"`
}

func probe(text string) result {
	named, err := reference.ParseNormalizedNamed(text)
	if err != nil {
		return result{Error: err.Error()}
	}
	out := result{
		Valid:  true,
		Domain: reference.Domain(named),
		Path:   reference.Path(named),
		String: reference.TagNameOnly(named).String(),
	}
	if tagged, ok := named.(reference.Tagged); ok {
		out.Tag = tagged.Tag()
	}
	if digested, ok := named.(reference.Digested); ok {
		out.Digest = digested.Digest().String()
	}
	return out
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false)
	for line := 1; in.Scan(); line++ {
		var text string
		if err := json.Unmarshal(in.Bytes(), &text); err != nil {
			fmt.Fprintf(os.Stderr, "refprobe: line %d: not a JSON string: %v\n", line, err)
			os.Exit(2)
		}
		if err := encoder.Encode(probe(text)); err != nil {
			fmt.Fprintf(os.Stderr, "refprobe: %v\n", err)
			os.Exit(1)
		}
		if err := out.Flush(); err != nil {
			fmt.Fprintf(os.Stderr, "refprobe: %v\n", err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "refprobe: reading stdin: %v\n", err)
		os.Exit(1)
	}
}
