package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/conf.*.yml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		base,
		base + "bogus: 1\n",
		base + "    numbers: [\"+46701234567\", \"+46701234567\"]\n",
		base + "api: {listen: \":0\", body_limit: 2KiB, timestamp_window: 1s}\n",
		base + "media: {rtp_ports: \"1024-65535\"}\nops: {listen: \"\"}\n",
		base + "store: {redis_url: \"redis://:pw@h:1/2\"}\n",
		base + "media: {tts: {engine: http, http: {url: \"http://t/x\", headers: {A: b, A: c}, timeout: 2s}}}\n",
		base + "---\na: 1\n",
		"a: &x [*x, *x]\n",
		"node:\n\tid: x\n",
		"<<: {node: {id: a}}\n",
		"? [a]\n: b\n",
		"apps: [[], {}, ~, 1]\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yml", data)
		if err != nil {
			if cfg != nil {
				t.Fatal("Parse returned a config and an error")
			}
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.yml:") {
					t.Fatalf("error line %q does not start with the file name", line)
				}
			}
			return
		}
		// A config that parses is complete: the defaults are applied and the
		// invariants the rest of callcore relies on hold.
		switch {
		case len(cfg.Apps) == 0:
			t.Fatal("no apps")
		case cfg.API.Listen == "" || cfg.API.BaseURL == "" || cfg.SIP.Listen == "" || cfg.SIP.PublicHost == "":
			t.Fatalf("listener defaults missing: %+v %+v", cfg.API, cfg.SIP)
		case cfg.API.BodyLimit < minBodyLimit || cfg.API.BodyLimit > maxBodyLimit:
			t.Fatalf("body limit %v", cfg.API.BodyLimit)
		case cfg.API.TimestampWindow <= 0 || cfg.API.TimestampWindow > maxTimestampWindow:
			t.Fatalf("timestamp window %v", cfg.API.TimestampWindow)
		case cfg.Media.RTPPorts.Min < 1024 || cfg.Media.RTPPorts.Min >= cfg.Media.RTPPorts.Max || cfg.Media.RTPPorts.Min%2 != 0:
			t.Fatalf("rtp ports %v", cfg.Media.RTPPorts)
		case cfg.Billing.Currency == "" || cfg.Log.Level == "" || cfg.Log.Format == "" || cfg.PSTN.Gateway == "":
			t.Fatalf("defaults missing: %+v", cfg)
		case cfg.Media.TTS.Engine != TTSEngineEspeak && cfg.Media.TTS.Engine != TTSEngineHTTP,
			cfg.Media.TTS.Engine == TTSEngineHTTP && cfg.Media.TTS.HTTP.URL == "",
			cfg.Media.TTS.HTTP.Timeout < time.Second:
			t.Fatalf("tts %+v", cfg.Media.TTS)
		}
		for _, a := range cfg.Apps {
			if a.Key == "" || a.Secret == "" || a.CallbackURL == "" {
				t.Fatalf("incomplete app %+v", a)
			}
			if _, ok := cfg.App(a.Key); !ok {
				t.Fatalf("App(%q) not found", a.Key)
			}
		}
	})
}
