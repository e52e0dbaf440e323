package record

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// credentialsForm is how every credentials error names the expected form.
const credentialsForm = `s3 credentials must be "ACCESSKEY:SECRET:REGION", e.g. "AKIAIOSFODNN7EXAMPLE:<secret access key>:eu-central-1"`

// maxS3Key is S3's key length limit in bytes.
const maxS3Key = 1024

// s3Dest uploads recordings to an S3 bucket.
type s3Dest struct {
	bucket string
	prefix string // key prefix, used with the generated name
	key    string // explicit key, or ""
	signer sigv4
	base   *url.URL // scheme and host (and base path) of the endpoint
	path   bool     // path-style addressing
	client *http.Client
	o      DestinationOptions
}

func parseS3(u *url.URL, credentials string, o DestinationOptions) (*s3Dest, error) {
	if u.Opaque != "" || u.Host == "" {
		return nil, errors.New("record: s3 destination must be s3://bucket/[prefix/ or key]")
	}
	if u.User != nil {
		return nil, errors.New("record: s3 destination must not carry credentials in the URL; use the credentials option")
	}
	if u.Port() != "" || !validBucket(u.Host) {
		return nil, fmt.Errorf("record: s3 bucket %q is not a valid bucket name (3 to 63 lower-case letters, digits, '.' and '-')", u.Host)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("record: s3 destination must not have a query or fragment")
	}
	key := strings.TrimPrefix(u.Path, "/")
	if err := validKey(key); err != nil {
		return nil, err
	}
	signer, err := parseCredentials(credentials)
	if err != nil {
		return nil, err
	}
	d := &s3Dest{bucket: u.Host, signer: signer, client: o.HTTPClient, o: o}
	if key == "" || strings.HasSuffix(key, "/") {
		d.prefix = key
	} else {
		d.key = key
	}
	if o.S3Endpoint == "" {
		d.base = &url.URL{Scheme: "https", Host: "s3." + signer.region + ".amazonaws.com"}
	} else {
		e, err := url.Parse(o.S3Endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || e.RawQuery != "" {
			return nil, errors.New("record: the node's S3 endpoint must be an http(s) URL such as http://minio:9000")
		}
		d.base = &url.URL{Scheme: e.Scheme, Host: e.Host, Path: strings.TrimRight(e.Path, "/")}
	}
	d.path = o.S3PathStyle || strings.Contains(d.bucket, ".")
	if d.client == nil {
		d.client = http.DefaultClient
	}
	return d, nil
}

// parseCredentials splits "ACCESSKEY:SECRET:REGION". Errors say what is
// wrong without quoting any part: a garbled string may have the secret
// anywhere.
func parseCredentials(s string) (sigv4, error) {
	if s == "" {
		return sigv4{}, errors.New("record: s3 destinations need credentials; " + credentialsForm)
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return sigv4{}, fmt.Errorf("record: %d colon-separated parts in the credentials; %s", len(parts), credentialsForm)
	}
	for i, what := range []string{"access key", "secret", "region"} {
		p := parts[i]
		if p == "" {
			return sigv4{}, fmt.Errorf("record: the %s is empty; %s", what, credentialsForm)
		}
		if len(p) > 128 {
			return sigv4{}, fmt.Errorf("record: the %s is longer than 128 characters; %s", what, credentialsForm)
		}
		for j := 0; j < len(p); j++ {
			if p[j] <= ' ' || p[j] >= 0x7f {
				return sigv4{}, fmt.Errorf("record: the %s has a space or a non-ASCII character; %s", what, credentialsForm)
			}
		}
	}
	for j := 0; j < len(parts[2]); j++ {
		c := parts[2][j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return sigv4{}, errors.New("record: the region is not a region name such as eu-central-1; " + credentialsForm)
		}
	}
	return sigv4{accessKey: parts[0], secret: parts[1], region: parts[2], service: "s3"}, nil
}

// validBucket applies S3's bucket naming rules (the DNS-compatible ones).
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	return alnum(b[0]) && alnum(b[len(b)-1]) && !strings.Contains(b, "..")
}

// validKey refuses keys S3 would refuse or that HTTP stacks rewrite: over
// 1024 bytes, control characters, "." or ".." segments, empty segments.
func validKey(k string) error {
	if len(k) > maxS3Key {
		return fmt.Errorf("record: s3 key of %d bytes is over S3's 1024", len(k))
	}
	for i := 0; i < len(k); i++ {
		if k[i] < ' ' || k[i] == 0x7f || k[i] == '\\' {
			return errors.New("record: s3 key has a control character or a backslash")
		}
	}
	segs := strings.Split(k, "/")
	for i, s := range segs {
		if s == "." || s == ".." || s == "" && i != len(segs)-1 {
			return fmt.Errorf("record: s3 key %q has an empty, \".\" or \"..\" segment", k)
		}
	}
	return nil
}

// objectURL is the URL of key: virtual-hosted or path style.
func (d *s3Dest) objectURL(key string) *url.URL {
	u := *d.base
	p := u.Path + "/" + key
	if d.path {
		p = u.Path + "/" + d.bucket + "/" + key
	} else {
		u.Host = d.bucket + "." + u.Host
	}
	u.Path = p
	u.RawPath = awsEscape(p, true)
	return &u
}

// Store uploads f with a signed PUT, retrying 5xx, 429 and network errors.
func (d *s3Dest) Store(ctx context.Context, f *File, name string) (loc string, err error) {
	start := time.Now()
	defer func() { d.o.Metrics.uploaded(schemeS3, time.Since(start), err) }()
	key := d.key
	if key == "" {
		if !SafeName(name) {
			return "", fmt.Errorf("record: recording name %q is not a safe file name", name)
		}
		key = d.prefix + name
		if err := validKey(key); err != nil {
			return "", err
		}
	}
	body, err := os.Open(f.Path)
	if err != nil {
		return "", fmt.Errorf("record: opening %s: %w", f.Path, err)
	}
	defer body.Close()
	sha, md, size, err := digests(body)
	if err != nil {
		return "", fmt.Errorf("record: reading %s: %w", f.Path, err)
	}
	attempts := d.o.Attempts
	if attempts <= 0 {
		attempts = 4
	}
	backoff := d.o.Backoff
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	loc = "s3://" + d.bucket + "/" + key
	log := d.o.Logger.With("scheme", schemeS3, "location", loc)
	for attempt := 1; ; attempt++ {
		err = d.put(ctx, body, size, key, f.Format, sha, md)
		if err == nil {
			if attempt > 1 {
				log.Info("recording uploaded after retries", "attempts", attempt)
			}
			return loc, nil
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("record: uploading to %s: %w (after %d attempts: %w)", loc, ctx.Err(), attempt, err)
			break
		}
		if !retryable(err) || attempt >= attempts {
			err = fmt.Errorf("record: uploading to %s failed after %d attempt(s): %w", loc, attempt, err)
			break
		}
		wait := backoff << (attempt - 1)
		wait += time.Duration(rand.Int64N(int64(wait)/2+1)) - wait/4
		log.Warn("recording upload failed, retrying", "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	log.Error("recording upload failed", "err", err)
	return "", err
}

// digests reads r once for the payload SHA-256 (hex) and MD5 (base64).
func digests(r io.ReadSeeker) (sha, md string, size int64, err error) {
	hs, hm := sha256.New(), md5.New()
	size, err = io.Copy(io.MultiWriter(hs, hm), r)
	if err != nil {
		return "", "", 0, err
	}
	return hex.EncodeToString(hs.Sum(nil)), base64.StdEncoding.EncodeToString(hm.Sum(nil)), size, nil
}

// S3Error is an S3 error response: the HTTP status and the code and
// message of its XML body (e.g. 404 NoSuchBucket).
type S3Error struct {
	Status  int
	Code    string
	Message string
}

func (e *S3Error) Error() string {
	s := fmt.Sprintf("s3 answered %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// retryable: server errors, throttling and transport errors are worth
// another try; other 4xx (no such bucket, access denied, bad signature) are
// not.
func retryable(err error) bool {
	var se *S3Error
	if errors.As(err, &se) {
		return se.Status >= 500 || se.Status == http.StatusTooManyRequests || se.Code == "RequestTimeout" || se.Code == "SlowDown"
	}
	return true
}

func (d *s3Dest) put(ctx context.Context, body *os.File, size int64, key string, f Format, sha, md string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, d.objectURL(key).String(), io.NewSectionReader(body, 0, size))
	if err != nil {
		return err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", f.ContentType())
	req.Header.Set("Content-MD5", md)
	req.Header.Set("X-Amz-Content-Sha256", sha)
	d.signer.sign(req, sha, time.Now())
	res, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 == 2 {
		return nil
	}
	se := &S3Error{Status: res.StatusCode}
	var x struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(b, &x) == nil {
		se.Code, se.Message = x.Code, x.Message
	}
	return se
}
