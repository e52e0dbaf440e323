package deploy

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// instruction is one Dockerfile instruction (continuation lines joined).
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// dockerfile parses deploy/Dockerfile: comments and blank lines dropped,
// backslash continuations joined.
func dockerfile(t *testing.T) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(readRepo(t, "deploy", "Dockerfile")), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\"))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	require.Zero(t, cur.Len(), "Dockerfile ends inside a continued instruction")
	return out
}

// dockerfileUID returns the numeric user of the final stage.
func dockerfileUID(t *testing.T) int64 {
	t.Helper()
	var user string
	for _, in := range dockerfile(t) {
		if in.cmd == "USER" {
			user = in.args
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	n, err := strconv.ParseInt(uid, 10, 64)
	require.NoError(t, err, "USER %q must be numeric (Kubernetes runAsNonRoot checks it)", user)
	return n
}

// healthcheck returns the HEALTHCHECK's exec-form command.
func healthcheck(t *testing.T) []string {
	t.Helper()
	for _, in := range dockerfile(t) {
		if in.cmd != "HEALTHCHECK" {
			continue
		}
		i := strings.Index(in.args, "CMD ")
		require.GreaterOrEqual(t, i, 0, "HEALTHCHECK without CMD")
		var argv []string
		require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(in.args[i+4:])), &argv), "HEALTHCHECK CMD must be exec form")
		return argv
	}
	t.Fatal("Dockerfile has no HEALTHCHECK")
	return nil
}

func TestDockerfile(t *testing.T) {
	ins := dockerfile(t)
	var froms, runs []string
	final := -1
	for i, in := range ins {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
			final = i
		case "RUN":
			runs = append(runs, in.args)
		}
	}
	// Multi-stage: a Go 1.26 builder and a Debian slim runtime.
	require.Len(t, froms, 2)
	require.Contains(t, froms[0], "golang:${GO_VERSION}")
	require.Contains(t, froms[0], " AS build")
	require.Contains(t, froms[1], "debian:${DEBIAN_RELEASE}-slim")
	args := map[string]string{}
	for _, in := range ins {
		if in.cmd == "ARG" {
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		}
	}
	require.Equal(t, "1.26", args["GO_VERSION"], "the go.mod version")
	require.Equal(t, "bookworm", args["DEBIAN_RELEASE"])

	all := strings.Join(runs, "\n")
	require.Contains(t, all, "go build -trimpath")
	require.Contains(t, all, "./cmd/...")
	require.Contains(t, all, "espeak-ng", "TTS needs espeak-ng in the runtime image")

	// The final stage runs as a numeric non-root user, with the config at
	// /etc/callcore/callcore.yml and the ports of the node.
	var entry, env, expose string
	user := ""
	for _, in := range ins[final:] {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "ENV":
			env += in.args + " "
		case "EXPOSE":
			expose += in.args + " "
		}
	}
	require.NotEmpty(t, user, "the runtime stage must set USER")
	require.NotZero(t, dockerfileUID(t), "USER must not be root")
	require.Equal(t, `["/usr/local/bin/callcore"]`, entry)
	require.Contains(t, env, "CALLCORE_CONFIG=/etc/callcore/callcore.yml")
	for _, p := range []string{"5060/udp", "5060/tcp", "8080/tcp", "9090/tcp"} {
		require.Contains(t, strings.Fields(expose), p)
	}

	hc := healthcheck(t)
	require.Contains(t, strings.Join(hc, " "), "/healthz")

	// .dockerignore keeps the context small but not the sources.
	ignore := string(readRepo(t, ".dockerignore"))
	for _, p := range []string{".git", "**/node_modules"} {
		require.Contains(t, strings.Fields(ignore), p)
	}
	for _, p := range []string{"cmd", "internal", "go.mod", "go.sum", "deploy/callcore.example.yml"} {
		require.NotContains(t, strings.Fields(ignore), p)
	}
}

// The HEALTHCHECK command, run as Docker would (bash from the image's
// PATH), passes against a node's ops listener and fails where nothing
// listens or /healthz does not answer 200.
func TestHealthcheckAgainstANode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	bash := requireTool(t, "bash", "apt-get install bash")
	hc := healthcheck(t)
	require.Equal(t, "bash", hc[0])

	n, err := startNode(t, "", "http://127.0.0.1:9/callbacks")
	require.NoError(t, err)
	_, port, err := net.SplitHostPort(n.OpsAddr())
	require.NoError(t, err)

	check := func(port string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bash, hc[1:]...)
		cmd.Env = append(os.Environ(), "CALLCORE_OPS_PORT="+port)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("healthcheck on port %s: %v %s", port, err, out)
		}
		return err
	}
	require.NoError(t, check(port))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, dead, _ := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, ln.Close())
	require.Error(t, check(dead))

	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	_, sickPort, _ := net.SplitHostPort(sick.Listener.Addr().String())
	require.Error(t, check(sickPort))
}
