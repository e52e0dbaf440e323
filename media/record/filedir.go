package record

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
)

// FileDir serves the recordings that file:// destinations stored: one
// directory per application key under a root. It implements the REST API's
// RecordingFiles (GET, HEAD and DELETE /calling/v1/recordings/{name}).
// Access goes through an os.Root, so no name or symbolic link reaches
// outside the directory.
type FileDir struct {
	root *os.Root
}

// NewFileDir opens (creating it when missing) the recordings directory dir,
// the same as DestinationOptions.FileDir. Close releases it.
func NewFileDir(dir string) (*FileDir, error) {
	if dir == "" {
		return nil, fmt.Errorf("record: recordings directory is empty")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("record: creating the recordings directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("record: opening the recordings directory: %w", err)
	}
	return &FileDir{root: root}, nil
}

// Close releases the directory.
func (d *FileDir) Close() error { return d.root.Close() }

// lookup is the path of appKey's recording name after checking that the
// application directory is a directory and the recording a regular file,
// neither a symbolic link. Unsafe names, missing entries and anything else
// give an fs.ErrNotExist error: they are not recordings.
func (d *FileDir) lookup(op, appKey, name string) (string, error) {
	notExist := &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	if !SafeName(appKey) || !SafeName(name) {
		return "", notExist
	}
	st, err := d.root.Lstat(appKey)
	if err == nil && !st.IsDir() {
		return "", notExist
	}
	p := path.Join(appKey, name)
	if err == nil {
		st, err = d.root.Lstat(p)
	}
	if errors.Is(err, fs.ErrNotExist) || err == nil && !st.Mode().IsRegular() {
		return "", notExist
	}
	return p, err
}

// Open opens appKey's recording name for reading. A name that is not a
// SafeName, is missing, or is not a regular file gives an error matching
// fs.ErrNotExist.
func (d *FileDir) Open(appKey, name string) (io.ReadSeekCloser, fs.FileInfo, error) {
	p, err := d.lookup("open", appKey, name)
	if err != nil {
		return nil, nil, err
	}
	f, err := d.root.Open(p)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// Remove deletes appKey's recording name; errors as Open's.
func (d *FileDir) Remove(appKey, name string) error {
	p, err := d.lookup("remove", appKey, name)
	if err != nil {
		return err
	}
	return d.root.Remove(p)
}
