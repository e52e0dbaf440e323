package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// root is the repository root (the directory holding go.mod), found by
// walking up from the test's working directory.
func root(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(data, []byte("module github.com/callcore/callcore\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "go.mod of github.com/callcore/callcore not found above the working directory")
		dir = parent
	}
}

// repoPath joins path elements to the repository root.
func repoPath(t *testing.T, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{root(t)}, elem...)...)
}

// readRepo reads a file of the repository.
func readRepo(t *testing.T, elem ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(repoPath(t, elem...))
	require.NoError(t, err)
	return data
}

// decodeYAML decodes one YAML document of the repository into v.
func decodeYAML(t *testing.T, v any, elem ...string) {
	t.Helper()
	require.NoError(t, yaml.Unmarshal(readRepo(t, elem...), v), filepath.Join(elem...))
}

// yamlDocs returns every document of a multi-document YAML file of the
// repository, skipping empty ones.
func yamlDocs(t *testing.T, elem ...string) []*yaml.Node {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readRepo(t, elem...)))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs
		}
		require.NoError(t, err, filepath.Join(elem...))
		if len(n.Content) > 0 && n.Content[0].Kind != 0 && !(n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			docs = append(docs, &n)
		}
	}
}

// requireTool returns the path of a command, skipping the test with a clear
// message when it is not installed.
func requireTool(t *testing.T, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (%s); CI installs it", name, hint)
	}
	return p
}

// run runs a command and returns its combined output, failing the test
// when it exits non-zero.
func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return string(out)
}

// copyFile copies a repository file to dst.
func copyFile(t *testing.T, dst string, elem ...string) {
	t.Helper()
	require.NoError(t, os.WriteFile(dst, readRepo(t, elem...), 0o600))
}
