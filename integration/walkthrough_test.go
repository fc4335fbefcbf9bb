package integration

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The walkthroughs of the documentation are the scripts in
// docs/walkthroughs, shown literally in the docs: a block of a page that
// follows the line `<!-- walkthrough: docs/walkthroughs/<name>.sh -->` is
// the whole script. TestWalkthroughs runs the scripts, so what a newcomer
// copies is what CI ran.
const walkthroughDir = "../docs/walkthroughs"

// walkthroughMarker introduces a script's block in a page.
const walkthroughMarker = "<!-- walkthrough: "

// walkthroughScripts returns the scripts, at least one per protocol.
func walkthroughScripts(t *testing.T) []string {
	t.Helper()
	scripts, err := filepath.Glob(filepath.Join(walkthroughDir, "*.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) < 4 {
		t.Fatalf("found %d walkthrough scripts in %s, want the FOLIO, OAuth, management and EDI ones", len(scripts), walkthroughDir)
	}
	return scripts
}

// TestWalkthroughs runs every walkthrough in a fresh bash (no inherited
// variables or functions, -euo pipefail) against a fresh demo
// (Caddyfile.example with its own data directory), then all of them one
// after another against one demo, as a newcomer might. The scripts check
// status codes and bodies themselves and exit non-zero on any surprise.
// The one change made to a script is the demo's address, moved to a free
// port as startDemo moves it in Caddyfile.example.
func TestWalkthroughs(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the walkthroughs need %s (.ci/run installs it): %v", tool, err)
		}
	}
	scripts := walkthroughScripts(t)
	for _, script := range scripts {
		t.Run(filepath.Base(script), func(t *testing.T) {
			g := startDemo(t, "/admin/health")
			runWalkthrough(t, g, script)
		})
	}
	t.Run("all on one demo", func(t *testing.T) {
		g := startDemo(t, "/admin/health")
		for _, script := range scripts {
			runWalkthrough(t, g, script)
		}
	})
}

// runWalkthrough runs one script against g and fails the test with the
// script's output if it exits non-zero.
func runWalkthrough(t *testing.T, g *gateway, script string) {
	t.Helper()
	src, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.NewReplacer("127.0.0.1:8080", "127.0.0.1:"+strconv.Itoa(g.ports.GW),
		"127.0.0.1:9000", "127.0.0.1:"+strconv.Itoa(g.ports.Up)).Replace(string(src))
	path := filepath.Join(t.TempDir(), filepath.Base(script))
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-euo", "pipefail", path)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir, "LC_ALL=C.UTF-8"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s failed (%v); its output:\n%s", filepath.Base(script), err, tail(string(out), 6000))
	}
}

// TestWalkthroughsMatchDocs: every block introduced by the walkthrough
// marker is exactly its script, and every script is shown somewhere.
func TestWalkthroughsMatchDocs(t *testing.T) {
	pages, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../README.md")
	shown := map[string]bool{}
	for _, page := range pages {
		for _, b := range walkthroughBlocks(t, page) {
			want, err := os.ReadFile(filepath.Join("..", b.script))
			if err != nil {
				t.Errorf("%s:%d names %s: %v", page, b.line, b.script, err)
				continue
			}
			if b.text != string(want) {
				t.Errorf("%s:%d: the block differs from %s; copy the script into the page", page, b.line, b.script)
			}
			shown[filepath.Clean(filepath.Join("..", b.script))] = true
		}
	}
	for _, script := range walkthroughScripts(t) {
		if !shown[filepath.Clean(script)] {
			t.Errorf("%s is shown in no page (add %s%s -->` before its block)", script, walkthroughMarker, strings.TrimPrefix(script, "../"))
		}
	}
}

// walkthroughBlock is a script's block in a page.
type walkthroughBlock struct {
	script string // path from the repository root
	line   int    // of the marker
	text   string // the lines between the fences, each ending in \n
}

// walkthroughBlocks finds the marked blocks of page: the marker line, then
// a ```sh fence, the script, and a closing ``` fence.
func walkthroughBlocks(t *testing.T, page string) []walkthroughBlock {
	t.Helper()
	f, err := os.Open(page)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		blocks []walkthroughBlock
		cur    *walkthroughBlock
		state  int // 0 outside, 1 after a marker, 2 inside its block
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch state {
		case 0:
			if rest, ok := strings.CutPrefix(line, walkthroughMarker); ok {
				cur = &walkthroughBlock{script: strings.TrimSpace(strings.TrimSuffix(rest, "-->")), line: n}
				state = 1
			}
		case 1:
			if line != "```sh" {
				t.Errorf("%s:%d: the walkthrough marker must be followed by a ```sh block", page, cur.line)
				state = 0
				continue
			}
			state = 2
		case 2:
			if line == "```" {
				blocks = append(blocks, *cur)
				state = 0
				continue
			}
			cur.text += line + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if state != 0 {
		t.Errorf("%s:%d: the walkthrough block is not closed", page, cur.line)
	}
	return blocks
}
