package record

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

const (
	testBucket = "call-recordings"
	testAK     = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testCreds  = testAK + ":" + testSecret + ":eu-central-1"
)

// fakeS3 is gofakes3 with its in-memory backend behind an httptest server,
// fronted by a checker that recomputes every request's SigV4 signature
// from what arrived on the wire and the payload hash from the body, and
// that can fail the next requests with 503.
type fakeS3 struct {
	t        *testing.T
	srv      *httptest.Server
	requests atomic.Int32
	fail     atomic.Int32 // answer 503 to this many next requests

	mu       sync.Mutex
	problems []string
}

func newFakeS3(t *testing.T, opts ...gofakes3.Option) *fakeS3 {
	t.Helper()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(testBucket))
	faker := gofakes3.New(backend, append([]gofakes3.Option{gofakes3.WithLogger(gofakes3.DiscardLog())}, opts...)...)
	f := &fakeS3{t: t}
	h := faker.Server()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if f.fail.Load() > 0 {
			f.fail.Add(-1)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>try again</Message></Error>`)
			return
		}
		if p := f.check(r); p != "" {
			f.mu.Lock()
			f.problems = append(f.problems, p)
			f.mu.Unlock()
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `<Error><Code>SignatureDoesNotMatch</Code><Message>`+p+`</Message></Error>`)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		f.srv.Close()
		require.Empty(t, f.problems)
	})
	return f
}

// check verifies the request's payload hash and signature; "" is fine.
func (f *fakeS3) check(r *http.Request) string {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err.Error()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(body)
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if hash != hex.EncodeToString(sum[:]) {
		return "payload hash mismatch"
	}
	auth := r.Header.Get("Authorization")
	prefix := "AWS4-HMAC-SHA256 Credential=" + testAK + "/"
	if !strings.HasPrefix(auth, prefix) || !strings.Contains(auth, "/eu-central-1/s3/aws4_request") {
		return "bad credential scope: " + auth
	}
	_, signedList, ok := strings.Cut(auth, "SignedHeaders=")
	if !ok {
		return "no SignedHeaders"
	}
	signedList, _, _ = strings.Cut(signedList, ",")
	at, err := time.Parse(amzDateFormat, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "bad X-Amz-Date"
	}
	// Rebuild the request from the wire: escaped path, query, host and the
	// signed headers only.
	u := "http://" + r.Host + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	re, err := http.NewRequest(r.Method, u, nil)
	if err != nil {
		return err.Error()
	}
	for _, h := range strings.Split(signedList, ";") {
		if h != "host" && h != "x-amz-date" {
			re.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	signer := sigv4{accessKey: testAK, secret: testSecret, region: "eu-central-1", service: "s3"}
	signer.sign(re, hash, at)
	if re.Header.Get("Authorization") != auth {
		return "signature mismatch"
	}
	return ""
}

// get fetches bucket/key back through the S3 API with a signed GET.
func (f *fakeS3) get(t *testing.T, bucket, key string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+"/"+bucket+"/"+awsEscape(key, true), nil)
	require.NoError(t, err)
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	signer := sigv4{accessKey: testAK, secret: testSecret, region: "eu-central-1", service: "s3"}
	signer.sign(req, emptySHA256, time.Now())
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", b)
	return b
}

func (f *fakeS3) options() DestinationOptions {
	return DestinationOptions{S3Endpoint: f.srv.URL, S3PathStyle: true, Backoff: time.Millisecond}
}

// recording records a second of caller/callee tones.
func recording(t *testing.T, fm Format, ch Channels) *File {
	t.Helper()
	r := startT(t, Spec{Format: fm, Channels: ch})
	feed(r, callerHz, calleeHz, 50)
	f, err := r.Stop(context.Background())
	require.NoError(t, err)
	return f
}

func TestS3UploadAndReadBack(t *testing.T) {
	s3 := newFakeS3(t)
	reg := prometheus.NewRegistry()
	o := s3.options()
	o.Metrics = NewMetrics(reg)
	for _, c := range []struct {
		format   Format
		channels Channels
	}{{FormatWAV, Mono}, {FormatWAV, Split}, {FormatMP3, Mono}, {FormatMP3, Split}} {
		t.Run(string(c.format)+"/"+string(c.channels), func(t *testing.T) {
			f := recording(t, c.format, c.channels)
			d, err := ParseDestination("s3://"+testBucket+"/voice/2026/", testCreds, o)
			require.NoError(t, err)
			name := Name("call-"+string(c.channels), 1, c.format)
			loc, err := d.Store(context.Background(), f, name)
			require.NoError(t, err)
			require.Equal(t, "s3://"+testBucket+"/voice/2026/"+name, loc)

			b := s3.get(t, testBucket, "voice/2026/"+name)
			local, err := os.ReadFile(f.Path)
			require.NoError(t, err)
			require.Equal(t, local, b, "the object is the recorded file")
			if c.format == FormatWAV {
				w := parseTestWAV(t, b)
				require.InDelta(t, 8000, amplitude(w.samples[0], w.rate, callerHz), 80)
				if c.channels == Split {
					require.InDelta(t, 6000, amplitude(w.samples[1], w.rate, calleeHz), 60)
				}
				return
			}
			rate, pcm := decodeTestMP3(t, b)
			require.InEpsilon(t, 8000, amplitude(pcm[0], rate, callerHz), 0.25)
			require.InEpsilon(t, 6000, amplitude(pcm[1], rate, calleeHz), 0.25)
		})
	}
	require.EqualValues(t, 4, histCount(t, reg, "s3"))
	require.InDelta(t, 0, testutil.ToFloat64(o.Metrics.uploadFailures.WithLabelValues("s3")), 0)
}

// histCount is the sample count of upload_duration_seconds{scheme}.
func histCount(t *testing.T, reg *prometheus.Registry, scheme string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "callcore_recording_upload_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "scheme" && l.GetValue() == scheme {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

func TestS3ExplicitKey(t *testing.T) {
	s3 := newFakeS3(t)
	f := recording(t, FormatWAV, Mono)
	d, err := ParseDestination("s3://"+testBucket+"/calls/my recording$1.wav", testCreds, s3.options())
	require.NoError(t, err)
	loc, err := d.Store(context.Background(), f, "ignored-1.wav")
	require.NoError(t, err)
	require.Equal(t, "s3://"+testBucket+"/calls/my recording$1.wav", loc)
	parseTestWAV(t, s3.get(t, testBucket, "calls/my recording$1.wav"))
}

func TestS3VirtualHostStyle(t *testing.T) {
	s3 := newFakeS3(t, gofakes3.WithHostBucket(true))
	addr := s3.srv.Listener.Addr().String()
	// Every host name resolves to the fake server.
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	_, port, _ := net.SplitHostPort(addr)
	f := recording(t, FormatMP3, Mono)
	d, err := ParseDestination("s3://"+testBucket, testCreds, DestinationOptions{
		S3Endpoint: "http://s3.storage.test:" + port, HTTPClient: client, Backoff: time.Millisecond,
	})
	require.NoError(t, err)
	require.Equal(t, "http://"+testBucket+".s3.storage.test:"+port+"/a.mp3", d.(*s3Dest).objectURL("a.mp3").String())
	loc, err := d.Store(context.Background(), f, "a.mp3")
	require.NoError(t, err)
	require.Equal(t, "s3://"+testBucket+"/a.mp3", loc)
	require.EqualValues(t, 1, s3.requests.Load())
}

func TestS3RetriesServerErrors(t *testing.T) {
	s3 := newFakeS3(t)
	s3.fail.Store(2)
	f := recording(t, FormatWAV, Mono)
	d, err := ParseDestination("s3://"+testBucket+"/", testCreds, s3.options())
	require.NoError(t, err)
	_, err = d.Store(context.Background(), f, "retry-1.wav")
	require.NoError(t, err)
	require.EqualValues(t, 3, s3.requests.Load())
	parseTestWAV(t, s3.get(t, testBucket, "retry-1.wav"))
}

func TestS3Failures(t *testing.T) {
	f := recording(t, FormatWAV, Mono)

	t.Run("no such bucket is not retried", func(t *testing.T) {
		s3 := newFakeS3(t)
		reg := prometheus.NewRegistry()
		o := s3.options()
		o.Metrics = NewMetrics(reg)
		d, err := ParseDestination("s3://no-such-bucket/", testCreds, o)
		require.NoError(t, err)
		_, err = d.Store(context.Background(), f, "x-1.wav")
		var se *S3Error
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusNotFound, se.Status)
		require.Equal(t, "NoSuchBucket", se.Code)
		require.ErrorContains(t, err, "s3://no-such-bucket/x-1.wav")
		require.EqualValues(t, 1, s3.requests.Load())
		require.InDelta(t, 1, testutil.ToFloat64(o.Metrics.uploadFailures.WithLabelValues("s3")), 0)
	})

	t.Run("persistent 503 gives up after the attempts", func(t *testing.T) {
		s3 := newFakeS3(t)
		s3.fail.Store(100)
		o := s3.options()
		o.Attempts = 3
		d, err := ParseDestination("s3://"+testBucket+"/", testCreds, o)
		require.NoError(t, err)
		_, err = d.Store(context.Background(), f, "x-1.wav")
		require.ErrorContains(t, err, "after 3 attempt(s)")
		require.ErrorContains(t, err, "503 ServiceUnavailable")
		require.EqualValues(t, 3, s3.requests.Load())
	})

	t.Run("server down", func(t *testing.T) {
		down := httptest.NewServer(http.NotFoundHandler())
		down.Close()
		d, err := ParseDestination("s3://"+testBucket+"/", testCreds, DestinationOptions{
			S3Endpoint: down.URL, S3PathStyle: true, Attempts: 3, Backoff: time.Millisecond,
		})
		require.NoError(t, err)
		_, err = d.Store(context.Background(), f, "x-1.wav")
		require.ErrorContains(t, err, "after 3 attempt(s)")
		require.ErrorContains(t, err, "connection refused")
		require.NotContains(t, err.Error(), testSecret)
	})

	t.Run("context ends the retries", func(t *testing.T) {
		s3 := newFakeS3(t)
		s3.fail.Store(100)
		o := s3.options()
		o.Attempts = 100
		o.Backoff = time.Hour
		d, err := ParseDestination("s3://"+testBucket+"/", testCreds, o)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for s3.requests.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, err = d.Store(ctx, f, "x-1.wav")
		require.ErrorIs(t, err, context.Canceled)
		require.EqualValues(t, 1, s3.requests.Load())
	})

	t.Run("missing local file", func(t *testing.T) {
		d, err := ParseDestination("s3://"+testBucket+"/", testCreds, DestinationOptions{S3Endpoint: "http://127.0.0.1:1", S3PathStyle: true})
		require.NoError(t, err)
		_, err = d.Store(context.Background(), &File{Path: "/nonexistent/rec.wav", Format: FormatWAV}, "x-1.wav")
		require.ErrorContains(t, err, "opening /nonexistent/rec.wav")
	})
}
