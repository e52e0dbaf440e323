package deploy

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callcore/callcore/internal/config"
)

// composeFile is the part of deploy/compose.yaml the checks read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command         []string       `yaml:"command"`
	Volumes         []string       `yaml:"volumes"`
	Ports           []string       `yaml:"ports"`
	Expose          []string       `yaml:"expose"`
	StopGracePeriod string         `yaml:"stop_grace_period"`
	DependsOn       any            `yaml:"depends_on"`
	Healthcheck     map[string]any `yaml:"healthcheck"`
	Networks        map[string]struct {
		IPv4Address string `yaml:"ipv4_address"`
	} `yaml:"networks"`
}

// mount returns the host path (relative to deploy/) mounted at target.
func (s composeService) mount(target string) (string, bool) {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target {
			return parts[0], true
		}
	}
	return "", false
}

// composeNode is a callcore service of compose.yaml with its configuration.
type composeNode struct {
	name string
	svc  composeService
	cfg  *config.Config
	ip   string
}

func loadCompose(t *testing.T) (composeFile, []composeNode) {
	t.Helper()
	var c composeFile
	decodeYAML(t, &c, "deploy", "compose.yaml")
	var nodes []composeNode
	for name, s := range c.Services {
		if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" {
			continue
		}
		require.Equal(t, "..", s.Build.Context, "%s: the image builds from the repository root", name)
		src, ok := s.mount("/etc/callcore/callcore.yml")
		require.True(t, ok, "%s: no configuration mounted at /etc/callcore/callcore.yml", name)
		cfg, err := config.Load(filepath.Join(root(t), "deploy", src))
		require.NoError(t, err, "%s: %s", name, src)
		nodes = append(nodes, composeNode{name: name, svc: s, cfg: cfg, ip: s.Networks["callcore"].IPv4Address})
	}
	slices.SortFunc(nodes, func(a, b composeNode) int { return strings.Compare(a.name, b.name) })
	return c, nodes
}

func portOf(t *testing.T, hostPort string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	require.NoError(t, err, hostPort)
	n, err := strconv.Atoi(p)
	require.NoError(t, err, hostPort)
	return n
}

func TestCompose(t *testing.T) {
	c, nodes := loadCompose(t)

	// Redis, two callcore nodes with their own valid configurations sharing
	// it, Kamailio, HAProxy, Prometheus, Grafana.
	require.Len(t, nodes, 2)
	for _, s := range []string{"redis", "kamailio", "haproxy", "prometheus", "grafana"} {
		require.Contains(t, c.Services, s)
	}
	for name, s := range c.Services {
		require.NotEmpty(t, s.Image, "%s: no image", name)
		if s.Build == nil {
			_, tag, ok := strings.Cut(s.Image, ":")
			require.True(t, ok && tag != "latest", "%s: image %q is not pinned", name, s.Image)
		}
	}
	require.Equal(t, nodes[0].svc.Image, nodes[1].svc.Image)
	subnet := c.Networks["callcore"].IPAM.Config[0].Subnet
	_, ipnet, err := net.ParseCIDR(subnet)
	require.NoError(t, err)

	kamailioIP := c.Services["kamailio"].Networks["callcore"].IPv4Address
	require.NotEmpty(t, kamailioIP)
	ids := map[string]bool{}
	for _, n := range nodes {
		cfg := n.cfg
		require.False(t, ids[cfg.Node.ID], "node id %s twice", cfg.Node.ID)
		ids[cfg.Node.ID] = true
		require.Equal(t, nodes[0].cfg.Node.Region, cfg.Node.Region, "one region")
		require.Equal(t, "redis://redis:6379/0", cfg.Store.RedisURL.Reveal(), "%s shares the compose Redis", n.name)
		require.True(t, ipnet.Contains(net.ParseIP(n.ip)), "%s: %s outside %s", n.name, n.ip, subnet)
		require.Equal(t, n.ip, cfg.SIP.PublicHost, "%s: sip.public_host must be the node's fixed address (SDP, Contact)", n.name)
		require.Equal(t, []string{kamailioIP}, cfg.SIP.TrunkACL, "%s: INVITEs only through Kamailio", n.name)
		for _, l := range []string{cfg.API.Listen, cfg.Ops.Listen, cfg.SIP.Listen} {
			host, _, _ := net.SplitHostPort(l)
			require.Equal(t, "0.0.0.0", host, "%s: listen on every interface of the container", n.name)
		}
		require.Equal(t, 5060, portOf(t, cfg.SIP.Listen))
		require.Equal(t, 9090, portOf(t, cfg.Ops.Listen), "the image's HEALTHCHECK reads /healthz on 9090")

		// Ports the service declares = the configuration's, RTP included.
		sip := strconv.Itoa(portOf(t, cfg.SIP.Listen))
		want := []string{sip + "/udp", sip + "/tcp", strconv.Itoa(portOf(t, cfg.API.Listen)) + "/tcp",
			strconv.Itoa(portOf(t, cfg.Ops.Listen)) + "/tcp", cfg.Media.RTPPorts.String() + "/udp"}
		require.ElementsMatch(t, want, n.svc.Expose, n.name)

		// Drain: compose waits longer than the node drains.
		grace, err := time.ParseDuration(n.svc.StopGracePeriod)
		require.NoError(t, err, "%s: stop_grace_period", n.name)
		require.Greater(t, grace, cfg.Node.DrainTimeout, "%s: stop_grace_period must be above node.drain_timeout", n.name)
		require.GreaterOrEqual(t, grace, cfg.Node.DrainTimeout+30*time.Second, "%s: plus callcore's 30 s of shutdown", n.name)
	}

	// Kamailio: deploy/kamailio/kamailio.cfg unchanged, the node list names
	// every node at its SIP address, SIP 5060 published over UDP and TCP.
	k := c.Services["kamailio"]
	cfgSrc, ok := k.mount("/etc/kamailio/callcore/kamailio.cfg")
	require.True(t, ok)
	require.Equal(t, "./kamailio/kamailio.cfg", cfgSrc)
	listSrc, ok := k.mount("/etc/kamailio/callcore/dispatcher.list")
	require.True(t, ok)
	var dests []string
	for _, line := range strings.Split(string(readRepo(t, "deploy", listSrc)), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") {
			require.Equal(t, "1", f[0], "dispatcher set")
			dests = append(dests, f[1])
		}
	}
	var want []string
	for _, n := range nodes {
		want = append(want, "sip:"+n.ip+":"+strconv.Itoa(portOf(t, n.cfg.SIP.Listen)))
	}
	require.ElementsMatch(t, want, dests)
	require.ElementsMatch(t, []string{"5060:5060/udp", "5060:5060/tcp"}, k.Ports)
	require.Contains(t, k.Command, "LISTEN_IP="+kamailioIP)
	require.Contains(t, k.Command, `DISPATCHER_LIST="/etc/kamailio/callcore/dispatcher.list"`)
	checkKamailioArgs(t, k, listSrc)

	// HAProxy: every node's API, health-checked on /readyz of its ops port.
	checkHAProxy(t, c.Services["haproxy"], nodes)

	// Prometheus scrapes every node with its region and node labels, loads
	// the rules; Grafana gets the dashboard.
	checkComposePrometheus(t, c.Services["prometheus"], nodes)
	g := c.Services["grafana"]
	dash, ok := g.mount("/etc/grafana/dashboards/callcore.json")
	require.True(t, ok)
	require.Equal(t, "./grafana/callcore.json", dash)
	prov, ok := g.mount("/etc/grafana/provisioning")
	require.True(t, ok)
	var provider struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	decodeYAML(t, &provider, "deploy", prov, "dashboards", "callcore.yml")
	require.Equal(t, "/etc/grafana/dashboards", provider.Providers[0].Options.Path)
	var ds struct {
		Datasources []struct {
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	decodeYAML(t, &ds, "deploy", prov, "datasources", "prometheus.yml")
	require.Equal(t, "prometheus", ds.Datasources[0].Type)
	require.Equal(t, "http://prometheus:9090", ds.Datasources[0].URL)

	// Redis keeps its data (the only state of a region).
	r := c.Services["redis"]
	require.Contains(t, r.Command, "--appendonly")
	_, ok = r.mount("/data")
	require.True(t, ok, "Redis data on a volume")
}

// checkKamailioArgs runs `kamailio -c` (configuration check, nothing bound)
// with compose's command line, the mounted files replaced by the
// repository's.
func checkKamailioArgs(t *testing.T, k composeService, listSrc string) {
	t.Helper()
	kamailio := requireTool(t, "kamailio", "apt-get install kamailio")
	dir := t.TempDir()
	list := filepath.Join(dir, "dispatcher.list")
	copyFile(t, list, "deploy", listSrc)
	require.Equal(t, "kamailio", k.Command[0])
	var args []string
	for _, a := range k.Command[1:] {
		switch {
		case a == "-DD" || a == "-E":
			continue
		case a == "/etc/kamailio/callcore/kamailio.cfg":
			a = repoPath(t, "deploy", "kamailio", "kamailio.cfg")
		case a == "/run/kamailio":
			a = dir
		case strings.HasPrefix(a, "DISPATCHER_LIST="):
			a = `DISPATCHER_LIST="` + list + `"`
		case strings.HasPrefix(a, "CTL_SOCKET="):
			a = `CTL_SOCKET="unix:` + filepath.Join(dir, "ctl") + `"`
		}
		args = append(args, a)
	}
	run(t, dir, kamailio, append([]string{"-c"}, args...)...)
}

// checkHAProxy reads compose/haproxy.cfg: one server per node at its API
// address, checked with GET /readyz on the ops port, published on 8080.
func checkHAProxy(t *testing.T, h composeService, nodes []composeNode) {
	t.Helper()
	src, ok := h.mount("/usr/local/etc/haproxy/haproxy.cfg")
	require.True(t, ok)
	f, err := os.Open(filepath.Join(root(t), "deploy", src))
	require.NoError(t, err)
	defer f.Close()
	var servers []string
	var checkPort, checkURI, bind string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch fields[0] {
		case "server":
			servers = append(servers, fields[2])
		case "bind":
			bind = fields[1]
		case "default-server":
			for i, f := range fields {
				if f == "port" && i+1 < len(fields) {
					checkPort = fields[i+1]
				}
			}
		case "http-check":
			for i, f := range fields {
				if f == "uri" && i+1 < len(fields) {
					checkURI = fields[i+1]
				}
			}
		}
	}
	require.NoError(t, sc.Err())
	var want []string
	for _, n := range nodes {
		want = append(want, n.ip+":"+strconv.Itoa(portOf(t, n.cfg.API.Listen)))
		require.Equal(t, checkPort, strconv.Itoa(portOf(t, n.cfg.Ops.Listen)))
	}
	require.ElementsMatch(t, want, servers)
	require.Equal(t, "/readyz", checkURI)
	require.Equal(t, ":8080", bind)
	require.Equal(t, []string{"8080:8080"}, h.Ports)
}

// checkComposePrometheus: job callcore scrapes every node's ops address
// with labels region = node.region and node = node.id; rules.yml is the
// repository's.
func checkComposePrometheus(t *testing.T, p composeService, nodes []composeNode) {
	t.Helper()
	src, ok := p.mount("/etc/prometheus/prometheus.yml")
	require.True(t, ok)
	rules, ok := p.mount("/etc/prometheus/rules.yml")
	require.True(t, ok)
	require.Equal(t, "./prometheus/rules.yml", rules)
	var pc struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	decodeYAML(t, &pc, "deploy", src)
	require.Equal(t, []string{"rules.yml"}, pc.RuleFiles)
	got := map[string]map[string]string{}
	for _, j := range pc.ScrapeConfigs {
		if j.JobName != "callcore" {
			continue
		}
		for _, s := range j.StaticConfigs {
			for _, tg := range s.Targets {
				got[tg] = s.Labels
			}
		}
	}
	want := map[string]map[string]string{}
	for _, n := range nodes {
		want[n.ip+":"+strconv.Itoa(portOf(t, n.cfg.Ops.Listen))] = map[string]string{"region": n.cfg.Node.Region, "node": n.cfg.Node.ID}
	}
	require.Equal(t, want, got)
}
