package kamailio

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseDispatcherList(t *testing.T) {
	// Real output of kamcmd dispatcher.list (5.6): two sets, attributes.
	out, err := os.ReadFile("testdata/dispatcher_list.txt")
	require.NoError(t, err)
	got, err := parseDispatcherList(string(out), 1)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"sip:127.0.0.1:5071": "AP", "sip:127.0.0.1:5072;transport=tcp": "AX"}, got)
	got, err = parseDispatcherList(string(out), 2)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"sip:10.0.0.1:5060": "DX"}, got)
	got, err = parseDispatcherList(string(out), 3)
	require.NoError(t, err)
	require.Empty(t, got)

	for name, bad := range map[string]string{
		"flags before uri":  "SET: {\nID: 1\nDEST: {\nFLAGS: AP\nURI: sip:a\n}\n}",
		"uri without flags": "SET: {\nID: 1\nDEST: {\nURI: sip:a\n}\nDEST: {\nURI: sip:b\nFLAGS: AP\n}\n}",
		"trailing uri":      "SET: {\nID: 1\nDEST: {\nURI: sip:a\n",
		"empty flags":       "SET: {\nID: 1\nDEST: {\nURI: sip:a\nFLAGS:\n}",
		"empty uri":         "SET: {\nID: 1\nDEST: {\nURI: \nFLAGS: AP\n}",
		"bad set id":        "SET: {\nID: one\n}",
	} {
		_, err := parseDispatcherList(bad, 1)
		require.Error(t, err, name)
	}
	got, err = parseDispatcherList("error: 500 - No Destination Sets\n", 1)
	require.NoError(t, err)
	require.Empty(t, got)
}

func FuzzParseDispatcherList(f *testing.F) {
	out, err := os.ReadFile("testdata/dispatcher_list.txt")
	require.NoError(f, err)
	f.Add(string(out), 1)
	f.Add("SET: {\nID: 1\nDEST: {\nURI: sip:a\nFLAGS: IP\n}\n}", 1)
	f.Add("SET: {\nID: 1\nDEST: {\nFLAGS: AP\n", 1)
	f.Add("", 0)
	f.Fuzz(func(t *testing.T, out string, set int) {
		got, err := parseDispatcherList(out, set)
		if err != nil {
			return
		}
		for uri, flags := range got {
			if uri == "" || flags == "" || strings.ContainsAny(uri+flags, " \t{}") {
				t.Fatalf("accepted %q -> %q", uri, flags)
			}
		}
	})
}

func TestStatusCode(t *testing.T) {
	code, err := statusCode([]byte("SIP/2.0 503 No Node Available\r\nVia: x\r\n\r\n"))
	require.NoError(t, err)
	require.Equal(t, 503, code)
	for _, bad := range []string{"", "OPTIONS sip:a SIP/2.0\r\n", "SIP/2.0 20 OK\r\n", "SIP/2.0 abc OK\r\n", "SIP/2.0 099 X\r\n"} {
		_, err := statusCode([]byte(bad))
		require.Error(t, err, bad)
	}
}

func FuzzStatusCode(f *testing.F) {
	f.Add([]byte("SIP/2.0 200 OK\r\n\r\n"))
	f.Add([]byte("SIP/2.0 100 Trying\r\n"))
	f.Add([]byte("INVITE sip:x SIP/2.0\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		code, err := statusCode(msg)
		if err == nil && (code < 100 || code > 999) {
			t.Fatalf("code %d from %q", code, msg)
		}
	})
}

func TestActiveExactly(t *testing.T) {
	d := map[string]string{"sip:a": "AP", "sip:b": "IP", "sip:c": "DX"}
	require.True(t, activeExactly(d, []string{"sip:a"}))
	require.False(t, activeExactly(d, []string{"sip:a", "sip:b"}), "b is inactive")
	require.False(t, activeExactly(d, nil), "a is active")
	require.False(t, activeExactly(d, []string{"sip:a", "sip:z"}), "z is not listed")
	require.False(t, activeExactly(map[string]string{"sip:a": "AP", "sip:b": "TP"}, []string{"sip:a"}),
		"a trying destination is still selected")
	require.True(t, activeExactly(map[string]string{"sip:a": "IP"}, nil))
}

func TestModuleRoot(t *testing.T) {
	root, err := moduleRoot()
	require.NoError(t, err)
	_, err = os.Stat(root + "/" + configPath)
	require.NoError(t, err)
	require.True(t, isModule([]byte("// x\nmodule github.com/callcore/callcore\n\ngo 1.26\n")))
	require.False(t, isModule([]byte("module github.com/callcore/callcore/other\n")))
}

// recordingTB records Skipf/Fatalf instead of ending the test.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

type stopped struct{}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	panic(stopped{})
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(stopped{})
}

func lookMissing(t *testing.T) *recordingTB {
	r := &recordingTB{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(stopped); !ok {
					panic(v)
				}
			}
		}()
		lookBinary(r, "kamailio-not-installed")
	}()
	return r
}

func TestLookBinaryMissing(t *testing.T) {
	t.Setenv("CALLCORE_SKIP_KAMAILIO", "")
	r := lookMissing(t)
	require.Empty(t, r.skipped)
	require.Contains(t, r.failed, "apt-get install kamailio")
	require.Contains(t, r.failed, "CALLCORE_SKIP_KAMAILIO=1")

	t.Setenv("CALLCORE_SKIP_KAMAILIO", "1")
	r = lookMissing(t)
	require.Empty(t, r.failed)
	require.Contains(t, r.skipped, "kamailio-not-installed is not installed")
}
