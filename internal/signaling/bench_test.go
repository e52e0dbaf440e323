package signaling

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func BenchmarkClassify(b *testing.B) {
	codes := []int{486, 404, 503, 500, 200, CodeRingTimeout, 487, 699}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = Classify(codes[i%len(codes)])
		i++
	}
}

func BenchmarkExtractSDP(b *testing.B) {
	b.Run("application/sdp", func(b *testing.B) {
		body := []byte(offerSDP)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ExtractSDP("application/sdp", body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("multipart", func(b *testing.B) {
		body := []byte(multipartBody)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ExtractSDP(`multipart/mixed; boundary="unique-boundary-1"`, body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkParseDTMFInfo(b *testing.B) {
	body := []byte("Signal=5\r\nDuration=160\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseDTMFInfo("application/dtmf-relay", body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkXHeaders(b *testing.B) {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "+15550001111", Host: "127.0.0.1"})
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "User-Agent", "Allow", "Supported"} {
		req.AppendHeader(sip.NewHeader(h, "x"))
	}
	req.AppendHeader(sip.NewHeader("X-Customer", "acme"))
	req.AppendHeader(sip.NewHeader("X-Trace", "abc"))
	in := &Inbound{req: req}
	b.ReportAllocs()
	for b.Loop() {
		if len(in.XHeaders()) != 2 {
			b.Fatal("want 2")
		}
	}
}

// BenchmarkInboundCallUDP measures one whole inbound call through the
// server over loopback UDP: INVITE, 100, 200 (Answer), ACK, BYE, 200.
func BenchmarkInboundCallUDP(b *testing.B) {
	ts := newTestServer(b, Options{Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			select {
			case in := <-ts.calls:
				go func() {
					if err := in.Answer(ctx, []byte(ourSDP)); err != nil {
						return
					}
					<-in.Done()
				}()
			case <-ctx.Done():
				return
			}
		}
	}()
	r := newRawUDP(b, ts.UDPAddr())
	port := strconv.Itoa(r.port())
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		id := "bench-" + strconv.Itoa(n)
		r.send(rawInvite(r, id, "", offerSDP))
		ok := r.recvNot100(5 * time.Second)
		if !strings.HasPrefix(ok, "SIP/2.0 200") {
			b.Fatalf("want 200, got %q", firstLine(ok))
		}
		to := headerValue(ok, "To")
		common := "Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=rawtag\r\nTo: " + to + "\r\nCall-ID: " + id + "\r\n"
		r.send("ACK sip:" + ts.UDPAddr().String() + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + port + ";branch=z9hG4bKa" + id + "\r\n" +
			common + "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
		r.send("BYE sip:" + ts.UDPAddr().String() + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + port + ";branch=z9hG4bKb" + id + "\r\n" +
			common + "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")
		for {
			m := r.recv(5 * time.Second)
			if m == "" {
				b.Fatal("no answer to BYE")
			}
			if strings.HasPrefix(m, "SIP/2.0 200") && strings.Contains(m, "CSeq: 2 BYE") {
				break
			}
			if strings.HasPrefix(m, "SIP/2.0 481") {
				b.Fatalf("BYE got 481 (ACK not processed before BYE?): %q", firstLine(m))
			}
		}
	}
}
