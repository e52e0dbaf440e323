package record

import (
	"bufio"
	"encoding/binary"
	"os"
)

const wavHeaderLen = 44

// maxWAVData is the largest data chunk a RIFF file can describe (its size
// fields are 32 bits and the RIFF size counts 36 more bytes), rounded down
// to whole stereo frames.
const maxWAVData = (1<<32 - 1 - 36) &^ 3

// wavSink writes a canonical 44-byte-header PCM16 WAV file. The sizes in
// the header are 0 until finish writes the real ones.
type wavSink struct {
	f        *os.File
	w        *bufio.Writer
	channels int
	data     int64 // bytes of samples written
	buf      []byte
}

func newWAVSink(f *os.File, channels int) (*wavSink, error) {
	s := &wavSink{f: f, w: bufio.NewWriterSize(f, 32<<10), channels: channels, buf: make([]byte, 2*FrameSamples*channels)}
	if _, err := s.w.Write(wavHeader(channels, 0)); err != nil {
		return nil, err
	}
	return s, nil
}

// wavHeader is the RIFF/WAVE header of a PCM16 8 kHz file with dataLen
// bytes of samples.
func wavHeader(channels int, dataLen uint32) []byte {
	h := make([]byte, wavHeaderLen)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+dataLen)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], uint16(channels))
	binary.LittleEndian.PutUint32(h[24:], SampleRate)
	binary.LittleEndian.PutUint32(h[28:], uint32(SampleRate*2*channels))
	binary.LittleEndian.PutUint16(h[32:], uint16(2*channels))
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], dataLen)
	return h
}

func (s *wavSink) write(pcm []int16) error {
	b := s.buf[:2*len(pcm)]
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	n, err := s.w.Write(b)
	s.data += int64(n)
	return err
}

func (s *wavSink) finish() error {
	err := s.w.Flush()
	if err == nil {
		// The recorder never writes more than maxWAVData.
		_, err = s.f.WriteAt(wavHeader(s.channels, uint32(s.data)), 0)
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *wavSink) abort() { _ = s.f.Close() }
