package record

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"
)

const (
	schemeFile = "file"
	schemeS3   = "s3"
)

// Destination stores finished recordings where startRecording's
// destinationUrl says.
type Destination interface {
	// Store copies f to the destination under name (from Name), unless the
	// destination URL names the object itself, and returns where it is: the
	// value of the Notify events' destination field. It retries transient
	// failures within ctx. f.Path is left in place.
	Store(ctx context.Context, f *File, name string) (location string, err error)
}

// DestinationOptions are the node's settings for destinations.
type DestinationOptions struct {
	// FileDir is the root of file:// destinations; "" disables them.
	FileDir string
	// FilePublicBase is the URL under which file:// recordings are
	// downloaded, e.g. https://node.example/calling/v1/recordings; ""
	// makes locations the route path "/calling/v1/recordings/<name>".
	FilePublicBase string
	// AppKey is the application whose call is recorded: file://
	// recordings are stored and served per application.
	AppKey string
	// S3Endpoint is the base URL of an S3-compatible store, e.g.
	// http://minio:9000; "" is AWS, https://s3.<region>.amazonaws.com.
	S3Endpoint string
	// S3PathStyle addresses buckets as <endpoint>/<bucket>/<key> instead of
	// <bucket>.<endpoint host>/<key>. Buckets with dots always use it.
	S3PathStyle bool
	// HTTPClient sends S3 requests; nil is http.DefaultClient. Uploads are
	// bounded by Store's ctx, not by a client timeout.
	HTTPClient *http.Client
	// Attempts is how many times an upload is tried on 5xx, 429 and network
	// errors; 0 means 4.
	Attempts int
	// Backoff is the wait before the first retry, doubled before each next
	// one (with ±25% jitter); 0 means 500 ms.
	Backoff time.Duration
	// Logger receives upload retries and failures; pass the call's logger
	// (it carries call_id). nil discards.
	Logger *slog.Logger
	// Metrics receives the upload metrics; nil records none.
	Metrics *Metrics
}

// ErrUnsupportedDestination is wrapped by ParseDestination's error for
// schemes callcore cannot store to (azure://, gs://, http://...).
var ErrUnsupportedDestination = errors.New("record: unsupported destination")

// ParseDestination checks startRecording's destinationUrl and credentials
// and returns where to store the recording. Every problem is reported here,
// before recording starts, with an error that never contains the secret.
//
// file:// (host ignored) stores under FileDir/<AppKey>/. The path is empty
// or "/" for the generated name, or one file name ending in .mp3 or .wav
// ("file:///greeting.mp3") that replaces it; sub-directories, "..", and
// names other than letters, digits, '-', '_' and '.' are refused. The
// location is FilePublicBase + "/" + name, served by GET
// /calling/v1/recordings/<name> to the same application only. Credentials
// are ignored.
//
// s3://bucket/prefix/ stores at key prefix + name: a path that is empty or
// ends in '/' is a prefix; any other path is the object key itself
// ("s3://bucket/calls/my-recording.mp3"). Credentials are
// "ACCESSKEY:SECRET:REGION". The location is "s3://bucket/key". Uploads are
// single PUTs signed with AWS Signature Version 4 (payload SHA-256 and
// Content-MD5 included).
//
// Any other scheme wraps ErrUnsupportedDestination.
func ParseDestination(rawURL, credentials string, o DestinationOptions) (Destination, error) {
	if rawURL == "" {
		return nil, errors.New("record: destinationUrl is empty")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("record: destinationUrl is not a URL: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch strings.ToLower(u.Scheme) {
	case schemeFile:
		return parseFile(u, o)
	case schemeS3:
		return parseS3(u, credentials, o)
	case "":
		return nil, fmt.Errorf("%w: destinationUrl %q has no scheme (use s3:// or file://)", ErrUnsupportedDestination, rawURL)
	default:
		return nil, fmt.Errorf("%w: %s:// is not supported by callcore (use s3:// or file://)", ErrUnsupportedDestination, strings.ToLower(u.Scheme))
	}
}

// fileDest stores recordings in the node's recordings directory.
type fileDest struct {
	dir    string
	appKey string
	name   string // explicit file name, or "" for the generated one
	public string
	o      DestinationOptions
}

func parseFile(u *url.URL, o DestinationOptions) (*fileDest, error) {
	if o.FileDir == "" {
		return nil, errors.New("record: file:// destinations are disabled on this node (no recordings directory is configured)")
	}
	if !SafeName(o.AppKey) {
		return nil, errors.New("record: file:// destinations need the application key of the call")
	}
	if u.Opaque != "" {
		return nil, fmt.Errorf("record: file destination must be file:///[name], not file:%s", u.Opaque)
	}
	d := &fileDest{dir: o.FileDir, appKey: o.AppKey, o: o}
	p := strings.TrimPrefix(u.Path, "/")
	if p != "" {
		if strings.ContainsAny(p, "/\\") {
			return nil, fmt.Errorf("record: file destination %q: sub-directories are not supported, give at most one file name", u.Path)
		}
		if !SafeName(p) {
			return nil, fmt.Errorf("record: file destination name %q: use letters, digits, '-', '_' and '.', not starting with '.'", p)
		}
		if _, ok := FormatOf(p); !ok {
			return nil, fmt.Errorf("record: file destination name %q must end in .mp3 or .wav", p)
		}
		d.name = p
	}
	d.public = strings.TrimRight(o.FilePublicBase, "/")
	if d.public == "" {
		d.public = "/calling/v1/recordings"
	}
	return d, nil
}

// Store copies the file into FileDir/<appKey>/<name> through a temporary
// file and a rename, so a reader never sees half a recording and an
// existing recording of that name is replaced whole.
func (d *fileDest) Store(ctx context.Context, f *File, name string) (loc string, err error) {
	start := time.Now()
	defer func() { d.o.Metrics.uploaded(schemeFile, time.Since(start), err) }()
	if d.name != "" {
		name = d.name
		if fm, _ := FormatOf(name); fm != f.Format {
			return "", fmt.Errorf("record: file destination %q names a .%s file but the recording is %s", name, fm.Ext(), f.Format)
		}
	}
	if !SafeName(name) {
		return "", fmt.Errorf("record: recording name %q is not a safe file name", name)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := d.copy(f.Path, name); err != nil {
		d.o.Logger.Error("storing recording failed", "scheme", schemeFile, "name", name, "err", err)
		return "", fmt.Errorf("record: storing %s: %w", name, err)
	}
	return d.public + "/" + name, nil
}

func (d *fileDest) copy(src, name string) error {
	if err := os.MkdirAll(d.dir, 0o750); err != nil {
		return err
	}
	root, err := os.OpenRoot(d.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.MkdirAll(d.appKey, 0o750); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(d.appKey, ".tmp-"+hex.EncodeToString(rnd[:])+"-"+name)
	out, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, path.Join(d.appKey, name))
	}
	if err != nil {
		_ = root.Remove(tmp)
	}
	return err
}
