package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCheckEmbeddedDemoConfig(t *testing.T) {
	var out bytes.Buffer
	require.Equal(t, 0, run([]string{"-check"}, &out), out.String())
	require.Contains(t, out.String(), "configuration is valid")
}

func TestCheckDocumentedExampleConfig(t *testing.T) {
	var out bytes.Buffer
	require.Equal(t, 0, run([]string{"-check", "-config", "../../deploy/callcore.example.yml"}, &out), out.String())
}

func TestBadConfigFailsWithFileAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yml")
	require.NoError(t, os.WriteFile(path, append(bytes.Clone(demoConfig), []byte("bogus: 1\n")...), 0o600))
	var out bytes.Buffer
	require.Equal(t, 2, run([]string{"-config", path}, &out))
	require.Contains(t, out.String(), "bad.yml:")
	require.Contains(t, out.String(), "bogus")

	out.Reset()
	require.Equal(t, 2, run([]string{"-config", filepath.Join(t.TempDir(), "missing.yml")}, &out))
	require.Contains(t, out.String(), "missing.yml")
}

// TestBinaryStartsAndStopsOnSIGTERM builds the real binary, starts it on
// free ports and checks that it logs without secrets and exits 0 on SIGTERM.
func TestBinaryStartsAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "callcore")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	cfg := strings.NewReplacer(`"127.0.0.1:8080"`, `"127.0.0.1:0"`, `"127.0.0.1:9090"`, `"127.0.0.1:0"`, `"127.0.0.1:5060"`, `"127.0.0.1:0"`).
		Replace(string(demoConfig))
	path := filepath.Join(dir, "node.yml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))

	cmd := exec.Command(bin, "-config", path)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	deadline := time.After(20 * time.Second)
wait:
	for {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "exited early: %s", strings.Join(log, "\n"))
			log = append(log, l)
			if strings.Contains(l, "node started") {
				break wait
			}
		case <-deadline:
			t.Fatalf("no start within 20s: %s", strings.Join(log, "\n"))
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	for l := range lines {
		log = append(log, l)
	}
	require.NoError(t, cmd.Wait(), strings.Join(log, "\n"))
	all := strings.Join(log, "\n")
	require.Contains(t, all, "node stopped")
	require.NotContains(t, all, "BeIukql3pTKJ8RGL5zo0DA==", "the secret must never be logged")
}
