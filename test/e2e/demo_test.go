package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/app"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/internal/demo"
	"github.com/callcore/callcore/test/phone"
)

// The demo application of `make run` answers a real call with speech.
func TestDemoAppAnswersWithSpeech(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	go func() { _ = demo.Serve(ctx, addr, appKey, appSecret, slog.New(slog.DiscardHandler)) }()

	rtp := freeEvenPortRange(t, 100)
	cfg, err := config.Parse("demo.yml", []byte(fmt.Sprintf(`
node:  {id: demo, region: euc1}
api:   {listen: "127.0.0.1:0", base_url: "http://127.0.0.1:8080"}
ops:   {listen: ""}
sip:   {listen: "127.0.0.1:0", public_host: "127.0.0.1"}
media: {rtp_ports: "%d-%d"}
pstn:  {gateway: "sip:127.0.0.1:9"}
apps:
  - key: %s
    secret: %s
    callback_url: http://%s/callbacks
    numbers: [%q]
`, rtp, rtp+99, appKey, appSecret, addr, did)))
	require.NoError(t, err)
	n, err := app.New(cfg, app.Options{Logger: testLogger(t)})
	require.NoError(t, err)
	require.NoError(t, n.Start(ctx))
	defer func() { _ = n.Stop(context.Background()) }()

	caller := phone.New(t, phone.Options{User: "dev"})
	var c *phone.Call
	require.Eventually(t, func() bool { // the demo app's listener may take a moment
		c, err = caller.Dial(ctx, "sip:"+did+"@"+n.SIPAddr(), phone.DialOptions{})
		return err == nil
	}, 10*time.Second, 200*time.Millisecond)
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the demo call did not end")
	}
	rec := c.Recording()
	require.True(t, phone.SpeechLike(rec), "no speech from the demo app (%d samples)", len(rec))
}
