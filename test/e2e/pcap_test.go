package e2e

import (
	"encoding/binary"
	"os"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

// rfc4733Packets returns the RTP telephone-event packets (payload type pt)
// of digits as a phone sends them: per digit a 100 ms event refreshed every
// 20 ms (marker on the first packet, one timestamp per event), the end
// packet three times, then 100 ms before the next digit. at is each
// packet's offset from the first.
func rfc4733Packets(t *testing.T, digits string, pt uint8) (pkts [][]byte, at []time.Duration) {
	t.Helper()
	codes := map[rune]byte{'*': 10, '#': 11, 'A': 12, 'B': 13, 'C': 14, 'D': 15}
	for d := '0'; d <= '9'; d++ {
		codes[d] = byte(d - '0')
	}
	seq, ts := uint16(4000), uint32(160000)
	var now time.Duration
	add := func(h rtp.Header, payload []byte) {
		b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
		require.NoError(t, err)
		pkts = append(pkts, b)
		at = append(at, now)
		seq++
	}
	for _, d := range digits {
		code, ok := codes[d]
		require.True(t, ok, "digit %q", d)
		for i := 1; i <= 5; i++ {
			dur := uint16(i * 160)
			end := i == 5
			repeats := 1
			if end {
				repeats = 3
			}
			flags := byte(10) // volume -10 dBm0
			if end {
				flags |= 0x80
			}
			for range repeats {
				add(rtp.Header{Version: 2, Marker: i == 1, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 0x4733},
					[]byte{code, flags, byte(dur >> 8), byte(dur)})
			}
			now += 20 * time.Millisecond
		}
		now += 100 * time.Millisecond
		ts += 1600 // the next event starts 200 ms later
	}
	return pkts, at
}

// writePCAP writes UDP datagrams as Ethernet/IPv4/UDP frames of a classic
// pcap file (the format sipp's play_pcap_audio reads; it rewrites the
// addresses and keeps the RTP and the timing).
func writePCAP(t *testing.T, path string, payloads [][]byte, at []time.Duration) {
	t.Helper()
	var out []byte
	out = binary.LittleEndian.AppendUint32(out, 0xa1b2c3d4)
	out = binary.LittleEndian.AppendUint16(out, 2)
	out = binary.LittleEndian.AppendUint16(out, 4)
	out = binary.LittleEndian.AppendUint32(out, 0) // thiszone
	out = binary.LittleEndian.AppendUint32(out, 0) // sigfigs
	out = binary.LittleEndian.AppendUint32(out, 65535)
	out = binary.LittleEndian.AppendUint32(out, 1) // DLT_EN10MB
	base := time.Unix(1_700_000_000, 0)
	for i, p := range payloads {
		udpLen := 8 + len(p)
		ipLen := 20 + udpLen
		frame := make([]byte, 0, 14+ipLen)
		frame = append(frame, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0x00) // dst, src MAC, IPv4
		ip := []byte{0x45, 0, byte(ipLen >> 8), byte(ipLen), 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(ip[j])<<8 | uint32(ip[j+1])
		}
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		frame = append(frame, ip...)
		frame = binary.BigEndian.AppendUint16(frame, 6000) // src port
		frame = binary.BigEndian.AppendUint16(frame, 6002) // dst port
		frame = binary.BigEndian.AppendUint16(frame, uint16(udpLen))
		frame = binary.BigEndian.AppendUint16(frame, 0) // no UDP checksum
		frame = append(frame, p...)
		ts := base.Add(at[i])
		out = binary.LittleEndian.AppendUint32(out, uint32(ts.Unix()))
		out = binary.LittleEndian.AppendUint32(out, uint32(ts.Nanosecond()/1000))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(frame)))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(frame)))
		out = append(out, frame...)
	}
	require.NoError(t, os.WriteFile(path, out, 0o644))
}
