package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/callcore/callcore/events"
	"github.com/callcore/callcore/internal/call"
	"github.com/callcore/callcore/internal/conference"
	"github.com/callcore/callcore/internal/config"
	"github.com/callcore/callcore/internal/signaling"
	"github.com/callcore/callcore/media"
	"github.com/callcore/callcore/media/record"
	"github.com/callcore/callcore/regions"
)

// newCallCore builds the media engine, the callback client, the SIP server
// and the call manager, wired to each other. Nothing listens until
// a.sip.Start.
func (a *App) newCallCore() error {
	cfg := a.cfg
	bind, advertised, err := mediaAddrs(cfg)
	if err != nil {
		return err
	}
	mopts := media.DefaultOptions()
	mopts.PortMin, mopts.PortMax = cfg.Media.RTPPorts.Min, cfg.Media.RTPPorts.Max
	mopts.BindIP, mopts.AdvertisedIP = bind, advertised
	mopts.RTPTimeout = cfg.Media.RTPTimeout
	mopts.CacheBytes = int64(cfg.Media.CacheBytes)
	mopts.FilesDir = cfg.Media.FilesDir
	mopts.TTS.Binary = cfg.Media.Espeak
	mopts.Fetch.Timeout = cfg.Media.FetchTimeout
	mopts.Fetch.MaxBytes = int64(cfg.Media.FetchMaxBytes)
	if cfg.Media.TTS.Engine == config.TTSEngineHTTP {
		h := http.Header{}
		for k, v := range cfg.Media.TTS.HTTP.Headers {
			h.Set(k, v.Reveal())
		}
		synth, err := media.NewHTTPSynthesizer(media.HTTPSynthesizerOptions{URL: cfg.Media.TTS.HTTP.URL, Header: h,
			Timeout: cfg.Media.TTS.HTTP.Timeout, MaxBytes: int64(cfg.Media.FetchMaxBytes)})
		if err != nil {
			return fmt.Errorf("media.tts.http: %w", err)
		}
		mopts.TTS.Engine = synth
	}
	mopts.InbandDTMF = cfg.Media.InbandDTMF
	mopts.BridgeJitterBuffer = cfg.Media.BridgeJitterBuffer
	mopts.Logger = a.log.With("component", "media")
	mopts.Registerer = a.registry
	eng, err := media.NewEngine(mopts)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	a.media = eng
	a.addStop("media", func(context.Context) error { return eng.Close() })

	client := events.NewClient(events.ClientOptions{
		Logger:  a.log.With("component", "callbacks"),
		Metrics: events.NewMetrics(a.registry),
	})
	a.callbackClient = client
	a.addStop("callback client", func(context.Context) error { client.CloseIdleConnections(); return nil })

	recs := &recordings{
		log:      a.log.With("component", "recording"),
		metrics:  record.NewMetrics(a.registry),
		tempDir:  cfg.Recordings.TempDir,
		maxDur:   cfg.Recordings.MaxDuration,
		channels: record.Channels(cfg.Recordings.Channels),
		dest: record.DestinationOptions{
			FileDir:        cfg.Recordings.Dir,
			FilePublicBase: strings.TrimRight(cfg.API.BaseURL, "/") + "/calling/v1/recordings",
			S3Endpoint:     cfg.Recordings.S3Endpoint,
			S3PathStyle:    cfg.Recordings.S3PathStyle,
		},
	}
	recs.dest.Metrics = recs.metrics
	if cfg.Recordings.Dir != "" {
		fd, err := record.NewFileDir(cfg.Recordings.Dir)
		if err != nil {
			return err
		}
		a.recordingFiles = fd
		a.addStop("recordings", func(context.Context) error { return fd.Close() })
	}

	region, err := regions.Parse(cfg.Node.Region)
	if err != nil {
		return err
	}
	known := []regions.Region{region}
	for id := range cfg.Regions {
		known = append(known, regions.Region(id))
	}
	dir, err := regions.NewDirectory(known...)
	if err != nil {
		return fmt.Errorf("regions: %w", err)
	}
	deps := call.Deps{
		Media:       mediaAdapter{e: eng},
		Callbacks:   &callbacks{c: client, cfg: cfg, tl: a.timeline},
		Apps:        &appRouter{s: a.store, cfg: cfg},
		Store:       &callStore{s: a.store, node: cfg.Node.ID, liveTTL: cfg.Calls.MaxDuration + cfg.Calls.RecordTTL, endedTTL: cfg.Calls.RecordTTL},
		Dialer:      &lazyDialer{a: a},
		Streams:     streamDialer{log: a.log.With("component", "stream"), reg: a.registry},
		Recordings:  recs,
		Events:      eventQueue{r: a.region},
		Peers:       a.region.peers,
		Conferences: confPort{a: a},
	}
	if a.timeline != nil {
		deps.Timeline = a.timeline
	}
	mgr, err := call.NewManager(deps, call.Options{
		Node:        cfg.Node.ID,
		Region:      cfg.Node.Region,
		BaseURL:     resourceBase(cfg),
		Currency:    cfg.Billing.Currency,
		DialTimeout: cfg.Calls.DialTimeout,
		MaxDuration: cfg.Calls.MaxDuration,
		RecordTTL:   cfg.Calls.RecordTTL,
		Logger:      a.log.With("component", "call"),
		Registerer:  a.registry,
		NewID:       func() string { return string(regions.NewCallID(region, cfg.Node.ID)) },
		Directory:   dir,
		RegionURLs:  cfg.Regions,
	})
	if err != nil {
		return err
	}
	mgr.SetLimits(cfg.Calls.MaxTTSChars)
	a.calls = mgr

	acl, err := trunkACL(cfg.SIP.TrunkACL)
	if err != nil {
		return err
	}
	sipLog := a.log.With("component", "sip")
	var trace func(signaling.TraceMessage)
	if a.timeline != nil {
		trace = sipTrace(a.timeline)
	}
	srv, err := signaling.New(signaling.Options{
		Trace:      trace,
		Listen:     cfg.SIP.Listen,
		PublicHost: cfg.SIP.PublicHost,
		Logger:     sipLog,
		Registerer: a.registry,
		TrunkACL:   acl,
		Gateway:    signaling.Gateway{URI: cfg.PSTN.Gateway, Username: cfg.PSTN.Username, Password: cfg.PSTN.Password.Reveal()},
		Realm:      cfg.SIP.Realm,
		Users: func(username string) (string, bool) {
			u, _, ok := cfg.User(username)
			return u.Password.Reveal(), ok
		},
		MaxCalls:           cfg.SIP.MaxCalls,
		DefaultDialTimeout: cfg.Calls.DialTimeout,
		InternalHeader:     conference.Header,
		Internal:           a.internalCheck,
		Handler: signaling.HandlerFunc(func(in *signaling.Inbound) {
			if v := in.Header(conference.Header); len(v) > 0 {
				a.conf.HandleInternal(context.Background(), in, v[0])
				return
			}
			mgr.HandleInbound(context.Background(), inboundCall(cfg, in, sipLog))
		}),
	})
	if err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	a.sip = srv
	return nil
}

// resourceBase is the base of callResourceUrl: the region's public API
// (regions.<node.region>) when configured, else this node's api.base_url.
func resourceBase(cfg *config.Config) string {
	if u, ok := cfg.Regions[cfg.Node.Region]; ok {
		return u
	}
	return cfg.API.BaseURL
}

// lazyDialer forwards to the SIP server, which is built after the manager.
type lazyDialer struct{ a *App }

func (d *lazyDialer) Dial(ctx context.Context, r call.DialRequest) (call.OutboundLeg, error) {
	return sipDialer{s: d.a.sip, log: d.a.log.With("component", "sip")}.Dial(ctx, r)
}

// mediaAddrs picks the RTP bind address (the SIP listen host when it is an
// address, else all interfaces) and the address written into SDP (the
// public host, resolved once if it is a name).
func mediaAddrs(cfg *config.Config) (bind, advertised netip.Addr, err error) {
	host, _, _ := net.SplitHostPort(cfg.SIP.Listen)
	bind = netip.IPv4Unspecified()
	if ip, err := netip.ParseAddr(host); err == nil {
		bind = ip
	}
	if ip, err := netip.ParseAddr(cfg.SIP.PublicHost); err == nil {
		return bind, ip, nil
	}
	ips, err := net.LookupIP(cfg.SIP.PublicHost)
	if err != nil || len(ips) == 0 {
		return bind, netip.Addr{}, fmt.Errorf("media: resolving sip.public_host %q: %v", cfg.SIP.PublicHost, err)
	}
	for _, ip := range ips {
		if v4 := ip.To4(); v4 != nil {
			a, _ := netip.AddrFromSlice(v4)
			return bind, a, nil
		}
	}
	a, _ := netip.AddrFromSlice(ips[0])
	return bind, a, nil
}

func trunkACL(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
