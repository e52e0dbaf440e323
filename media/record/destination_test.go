package record

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

const testAppKey = "669E367E-6BBA-48AB-AF15-266871C28135"

func TestParseDestination(t *testing.T) {
	fileOpts := DestinationOptions{FileDir: t.TempDir(), AppKey: testAppKey}
	for _, c := range []struct {
		name, url, creds string
		o                DestinationOptions
		err              string // "" = valid
	}{
		{"s3 prefix", "s3://my-bucket/", testCreds, DestinationOptions{}, ""},
		{"s3 no path", "s3://my-bucket", testCreds, DestinationOptions{}, ""},
		{"s3 nested prefix", "s3://my-bucket/a/b/", testCreds, DestinationOptions{}, ""},
		{"s3 key", "s3://my-bucket/a/b.mp3", testCreds, DestinationOptions{}, ""},
		{"s3 upper-case scheme", "S3://my-bucket/", testCreds, DestinationOptions{}, ""},
		{"s3 dotted bucket", "s3://my.bucket.example/", testCreds, DestinationOptions{}, ""},
		{"s3 no creds", "s3://my-bucket/", "", DestinationOptions{}, `"ACCESSKEY:SECRET:REGION"`},
		{"s3 two parts", "s3://my-bucket/", testAK + ":" + testSecret, DestinationOptions{}, "2 colon-separated parts"},
		{"s3 four parts", "s3://my-bucket/", testCreds + ":x", DestinationOptions{}, "4 colon-separated parts"},
		{"s3 empty secret", "s3://my-bucket/", testAK + "::eu-central-1", DestinationOptions{}, "the secret is empty"},
		{"s3 empty region", "s3://my-bucket/", testAK + ":" + testSecret + ":", DestinationOptions{}, "the region is empty"},
		{"s3 bad region", "s3://my-bucket/", testAK + ":eu-central-1:" + "wJalrXUtnFEMI/K7MDENG", DestinationOptions{}, "not a region name"},
		{"s3 space", "s3://my-bucket/", testAK + ":se cret:eu-central-1", DestinationOptions{}, "has a space"},
		{"s3 bad bucket", "s3://My_Bucket/", testCreds, DestinationOptions{}, "not a valid bucket name"},
		{"s3 short bucket", "s3://ab/", testCreds, DestinationOptions{}, "not a valid bucket name"},
		{"s3 bucket port", "s3://my-bucket:9000/", testCreds, DestinationOptions{}, "not a valid bucket name"},
		{"s3 no bucket", "s3:///key", testCreds, DestinationOptions{}, "s3://bucket/"},
		{"s3 userinfo", "s3://AK:SK@my-bucket/", testCreds, DestinationOptions{}, "must not carry credentials"},
		{"s3 query", "s3://my-bucket/?x=1", testCreds, DestinationOptions{}, "query"},
		{"s3 dot-dot key", "s3://my-bucket/a/../b.mp3", testCreds, DestinationOptions{}, `".."`},
		{"s3 double slash", "s3://my-bucket/a//b/", testCreds, DestinationOptions{}, "empty"},
		{"s3 long key", "s3://my-bucket/" + strings.Repeat("k", 1025), testCreds, DestinationOptions{}, "over S3's 1024"},
		{"s3 control char", "s3://my-bucket/a%0Ab", testCreds, DestinationOptions{}, "control character"},
		{"s3 bad endpoint", "s3://my-bucket/", testCreds, DestinationOptions{S3Endpoint: "ftp://x"}, "S3 endpoint"},

		{"file root", "file:///", "", fileOpts, ""},
		{"file empty", "file://", "", fileOpts, ""},
		{"file host ignored", "file://anything/", "", fileOpts, ""},
		{"file name", "file:///greeting.mp3", "", fileOpts, ""},
		{"file host and name", "file://host/greeting.wav", "", fileOpts, ""},
		{"file disabled", "file:///", "", DestinationOptions{AppKey: testAppKey}, "disabled on this node"},
		{"file no app", "file:///", "", DestinationOptions{FileDir: "/x"}, "application key"},
		{"file traversal", "file:///../../etc/passwd", "", fileOpts, "sub-directories"},
		{"file encoded traversal", "file:///..%2F..%2Fetc%2Fpasswd", "", fileOpts, "sub-directories"},
		{"file dot-dot", "file:///..", "", fileOpts, "not starting with '.'"},
		{"file hidden", "file:///.x.mp3", "", fileOpts, "not starting with '.'"},
		{"file backslash", `file:///..\x.mp3`, "", fileOpts, "sub-directories"},
		{"file subdir", "file:///a/b.mp3", "", fileOpts, "sub-directories"},
		{"file bad ext", "file:///a.ogg", "", fileOpts, "must end in .mp3 or .wav"},
		{"file opaque", "file:x.mp3", "", fileOpts, "file:///"},

		{"azure", "azure://sinchsdk/voice-recordings/", "x", DestinationOptions{}, "azure:// is not supported"},
		{"gs", "gs://bucket/", "x", DestinationOptions{}, "gs:// is not supported"},
		{"https", "https://example.com/upload", "", DestinationOptions{}, "https:// is not supported"},
		{"no scheme", "my-bucket/x", "", DestinationOptions{}, "has no scheme"},
		{"empty", "", "", DestinationOptions{}, "empty"},
		{"not a url", "s3://bucket/%zz", testCreds, DestinationOptions{}, "not a URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := ParseDestination(c.url, c.creds, c.o)
			if c.err == "" {
				require.NoError(t, err)
				require.NotNil(t, d)
				return
			}
			require.ErrorContains(t, err, c.err)
			require.Nil(t, d)
			require.NotContains(t, err.Error(), testSecret)
			require.NotContains(t, err.Error(), "wJalrXUtnFEMI")
			if strings.Contains(c.err, "is not supported") {
				require.ErrorIs(t, err, ErrUnsupportedDestination)
			}
		})
	}
}

func TestS3Addressing(t *testing.T) {
	for _, c := range []struct {
		url  string
		o    DestinationOptions
		name string
		want string
	}{
		{"s3://my-bucket/", DestinationOptions{}, "a-1.mp3", "https://my-bucket.s3.eu-central-1.amazonaws.com/a-1.mp3"},
		{"s3://my-bucket/rec/", DestinationOptions{S3PathStyle: true}, "a-1.mp3", "https://s3.eu-central-1.amazonaws.com/my-bucket/rec/a-1.mp3"},
		{"s3://my.bucket/rec/", DestinationOptions{}, "a-1.mp3", "https://s3.eu-central-1.amazonaws.com/my.bucket/rec/a-1.mp3"},
		{"s3://my-bucket/k y$.mp3", DestinationOptions{S3Endpoint: "http://minio:9000/base/", S3PathStyle: true}, "a-1.mp3", "http://minio:9000/base/my-bucket/k%20y%24.mp3"},
		{"s3://my-bucket", DestinationOptions{S3Endpoint: "https://r2.example"}, "a-1.mp3", "https://my-bucket.r2.example/a-1.mp3"},
	} {
		d, err := ParseDestination(c.url, testCreds, c.o)
		require.NoError(t, err)
		s := d.(*s3Dest)
		key := s.key
		if key == "" {
			key = s.prefix + c.name
		}
		require.Equal(t, c.want, s.objectURL(key).String(), c.url)
	}
}

func TestFileDestination(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	o := DestinationOptions{FileDir: dir, AppKey: testAppKey, FilePublicBase: "https://node.example/calling/v1/recordings/", Metrics: NewMetrics(reg)}
	f := recording(t, FormatWAV, Mono)
	want, err := os.ReadFile(f.Path)
	require.NoError(t, err)

	d, err := ParseDestination("file:///", "", o)
	require.NoError(t, err)
	loc, err := d.Store(context.Background(), f, "call-1.wav")
	require.NoError(t, err)
	require.Equal(t, "https://node.example/calling/v1/recordings/call-1.wav", loc)
	got, err := os.ReadFile(filepath.Join(dir, testAppKey, "call-1.wav"))
	require.NoError(t, err)
	require.Equal(t, want, got)
	_, err = os.Stat(f.Path)
	require.NoError(t, err, "the temporary file is left to the caller")

	// Explicit name; no temporary files left behind.
	d, err = ParseDestination("file:///greeting.wav", "", o)
	require.NoError(t, err)
	loc, err = d.Store(context.Background(), f, "call-2.wav")
	require.NoError(t, err)
	require.Equal(t, "https://node.example/calling/v1/recordings/greeting.wav", loc)
	entries, err := os.ReadDir(filepath.Join(dir, testAppKey))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{"call-1.wav", "greeting.wav"}, names)

	// A name whose extension contradicts the format.
	d, err = ParseDestination("file:///greeting.mp3", "", o)
	require.NoError(t, err)
	_, err = d.Store(context.Background(), f, "call-3.wav")
	require.ErrorContains(t, err, "names a .mp3 file but the recording is wav")

	// Unsafe generated names never reach the file system.
	d, err = ParseDestination("file:///", "", o)
	require.NoError(t, err)
	for _, bad := range []string{"../x.wav", "..", "a/b.wav", "", ".hidden.wav", "x\x00.wav"} {
		_, err = d.Store(context.Background(), f, bad)
		require.ErrorContains(t, err, "not a safe file name", bad)
	}
	_, err = os.Stat(filepath.Join(dir, "x.wav"))
	require.ErrorIs(t, err, fs.ErrNotExist)

	require.EqualValues(t, 2+1+6, histCount(t, reg, "file"))
	require.InDelta(t, 7, testutil.ToFloat64(o.Metrics.uploadFailures.WithLabelValues("file")), 0)

	// Without a public base the location is the API route.
	d, err = ParseDestination("file:///", "", DestinationOptions{FileDir: dir, AppKey: testAppKey})
	require.NoError(t, err)
	loc, err = d.Store(context.Background(), f, "call-4.wav")
	require.NoError(t, err)
	require.Equal(t, "/calling/v1/recordings/call-4.wav", loc)
}

func TestFileDestinationRefusesSymlinkEscape(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	// The application's directory is a symbolic link out of the root.
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, testAppKey)))
	d, err := ParseDestination("file:///", "", DestinationOptions{FileDir: dir, AppKey: testAppKey})
	require.NoError(t, err)
	_, err = d.Store(context.Background(), recording(t, FormatWAV, Mono), "call-1.wav")
	require.Error(t, err)
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	require.Empty(t, entries)
}

func TestFileDir(t *testing.T) {
	dir := t.TempDir()
	fd, err := NewFileDir(filepath.Join(dir, "recordings"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = fd.Close() })
	appDir := filepath.Join(dir, "recordings", testAppKey)
	require.NoError(t, os.MkdirAll(appDir, 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(appDir, "call-1.mp3"), []byte("ID3 not really"), 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o640))
	require.NoError(t, os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(appDir, "link.mp3")))
	require.NoError(t, os.Mkdir(filepath.Join(appDir, "sub.mp3"), 0o750))
	// An application directory that is a link out of the root.
	require.NoError(t, os.Symlink(dir, filepath.Join(dir, "recordings", "linked-app")))

	rc, st, err := fd.Open(testAppKey, "call-1.mp3")
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, "ID3 not really", string(b))
	require.EqualValues(t, len(b), st.Size())

	for _, c := range []struct{ app, name string }{
		{"other-app", "call-1.mp3"},
		{testAppKey, "missing.mp3"},
		{testAppKey, "../../secret.txt"},
		{testAppKey, ".."},
		{"..", "secret.txt"},
		{"", "secret.txt"},
		{testAppKey, "link.mp3"}, // symbolic link out of the root
		{testAppKey, "sub.mp3"},  // a directory
		{"linked-app", "secret.txt"},
	} {
		_, _, err := fd.Open(c.app, c.name)
		require.ErrorIs(t, err, fs.ErrNotExist, "%s/%s", c.app, c.name)
		require.ErrorIs(t, fd.Remove(c.app, c.name), fs.ErrNotExist, "%s/%s", c.app, c.name)
	}
	require.NoError(t, fd.Remove(testAppKey, "call-1.mp3"))
	_, _, err = fd.Open(testAppKey, "call-1.mp3")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, fd.Remove(testAppKey, "call-1.mp3"), fs.ErrNotExist)
	_, err = os.Stat(filepath.Join(dir, "secret.txt"))
	require.NoError(t, err)

	_, err = NewFileDir("")
	require.Error(t, err)
}

func TestNameAndFormat(t *testing.T) {
	for _, c := range []struct {
		id   string
		seq  int
		f    Format
		want string
	}{
		{"33dd8e62-0ac6-4e0c-a89f-36d121f861f9", 1, FormatMP3, "33dd8e62-0ac6-4e0c-a89f-36d121f861f9-1.mp3"},
		{"eu1.node-3.abc", 2, FormatWAV, "eu1_node-3_abc-2.wav"},
		{"../../etc/passwd", 3, FormatMP3, "______etc_passwd-3.mp3"},
		{"", 1, FormatWAV, "call-1.wav"},
		{"é", 1, FormatWAV, "__-1.wav"},
		{strings.Repeat("a", 300), 12, FormatMP3, strings.Repeat("a", 100) + "-12.mp3"},
	} {
		got := Name(c.id, c.seq, c.f)
		require.Equal(t, c.want, got)
		require.True(t, SafeName(got), got)
	}
	for in, want := range map[string]Format{"": FormatMP3, "mp3": FormatMP3, "MP3": FormatMP3, "wav": FormatWAV, "Wav": FormatWAV} {
		got, err := ParseFormat(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := ParseFormat("ogg")
	require.ErrorContains(t, err, `"mp3" or "wav"`)
	require.Equal(t, "audio/mpeg", FormatMP3.ContentType())
	require.Equal(t, "audio/wav", FormatWAV.ContentType())
	fm, ok := FormatOf("x.WAV")
	require.True(t, ok)
	require.Equal(t, FormatWAV, fm)
	_, ok = FormatOf("x.txt")
	require.False(t, ok)
}

// FuzzParseDestination: ParseDestination never panics, never puts the
// secret in an error, and whatever it accepts only ever writes inside the
// application's directory or under a valid bucket and key.
func FuzzParseDestination(f *testing.F) {
	for _, s := range []string{"s3://my-bucket/", "s3://my-bucket/a/b.mp3", "file:///", "file:///x.wav",
		"file:///../../etc", "file:///..%2Fx", "azure://x/y", "s3://a..b/", "s3://b/%2e%2e/x", "s3://my-bucket/a//b", "file://h/a%00.mp3"} {
		f.Add(s, testCreds, "call-1.mp3")
	}
	f.Add("s3://bucket/", "a:b", "x")
	f.Add("s3://bucket/", "::", "x")
	f.Add("s3://bucket/", "a:b:c:d", "../x")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, rawURL, creds, name string) {
		d, err := ParseDestination(rawURL, creds, DestinationOptions{FileDir: dir, AppKey: testAppKey})
		if err != nil {
			_, secret, ok := strings.Cut(creds, ":")
			secret, _, _ = strings.Cut(secret, ":")
			if ok && len(secret) >= 8 && !strings.Contains(rawURL, secret) && !strings.Contains(credentialsForm, secret) {
				require.NotContains(t, err.Error(), secret)
			}
			return
		}
		switch d := d.(type) {
		case *fileDest:
			require.True(t, d.name == "" || SafeName(d.name), d.name)
		case *s3Dest:
			require.True(t, validBucket(d.bucket))
			key := d.key
			if key == "" && SafeName(name) {
				key = d.prefix + name
			}
			if key != "" && validKey(key) == nil {
				u := d.objectURL(key)
				require.NotContains(t, strings.Split(u.Path, "/"), "..")
			}
		default:
			t.Fatalf("unexpected destination %T", d)
		}
	})
}

// FuzzParseCredentials: accepted credentials always have three non-empty
// parts that rebuild the input.
func FuzzParseCredentials(f *testing.F) {
	f.Add(testCreds)
	f.Add("a:b")
	f.Add("a:b:c:d")
	f.Add(":b:c")
	f.Add("a:b:c d")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCredentials(s)
		if err != nil {
			require.ErrorContains(t, err, "ACCESSKEY:SECRET:REGION")
			return
		}
		require.NotEmpty(t, c.accessKey)
		require.NotEmpty(t, c.secret)
		require.NotEmpty(t, c.region)
		require.Equal(t, s, c.accessKey+":"+c.secret+":"+c.region)
	})
}

// FuzzNames: Name always gives a SafeName, and a SafeName is always one
// clean path segment that stays inside its directory.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"33dd8e62-0ac6-4e0c-a89f-36d121f861f9", "../x", "..", ".", "a/b", "a\\b", "é", "", "x.mp3"} {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, s string, seq int) {
		n := Name(s, seq, FormatMP3)
		require.True(t, SafeName(n), n)
		if SafeName(s) {
			require.Equal(t, s, filepath.Base(s))
			require.Equal(t, s, filepath.Clean(s))
			require.False(t, strings.HasPrefix(s, "."))
			require.True(t, filepath.IsLocal(s))
		}
	})
}
