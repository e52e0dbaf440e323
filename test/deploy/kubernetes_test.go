package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/callcore/callcore/internal/config"
)

// kubeObject is one manifest of deploy/kubernetes.
type kubeObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	file string
	node *yaml.Node
}

// kubeObjects decodes every manifest listed in kustomization.yaml.
func kubeObjects(t *testing.T) []kubeObject {
	t.Helper()
	var k struct {
		Namespace string   `yaml:"namespace"`
		Resources []string `yaml:"resources"`
	}
	decodeYAML(t, &k, "deploy", "kubernetes", "kustomization.yaml")
	require.Equal(t, "callcore", k.Namespace)
	var out []kubeObject
	for _, f := range k.Resources {
		for _, doc := range yamlDocs(t, "deploy", "kubernetes", f) {
			var o kubeObject
			require.NoError(t, doc.Decode(&o), f)
			require.NotEmpty(t, o.Kind, "%s: object without kind", f)
			require.NotEmpty(t, o.Metadata.Name, "%s: %s without name", f, o.Kind)
			o.file, o.node = f, doc
			out = append(out, o)
		}
	}
	return out
}

// kubeObjectOf returns the one object of kind (and name, if not "").
func kubeObjectOf(t *testing.T, objs []kubeObject, kind, name string, v any) kubeObject {
	t.Helper()
	var found []kubeObject
	for _, o := range objs {
		if o.Kind == kind && (name == "" || o.Metadata.Name == name) {
			found = append(found, o)
		}
	}
	require.Len(t, found, 1, "want one %s %s", kind, name)
	require.NoError(t, found[0].node.Decode(v))
	return found[0]
}

// intOrString is a Kubernetes IntOrString (a port number or name).
type intOrString string

func (p *intOrString) UnmarshalYAML(n *yaml.Node) error {
	*p = intOrString(n.Value)
	return nil
}

type probe struct {
	HTTPGet *struct {
		Path string      `yaml:"path"`
		Port intOrString `yaml:"port"`
	} `yaml:"httpGet"`
	PeriodSeconds    int `yaml:"periodSeconds"`
	FailureThreshold int `yaml:"failureThreshold"`
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		ValueFrom struct {
			FieldRef struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		SecretRef struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	StartupProbe   *probe `yaml:"startupProbe"`
	Lifecycle      struct {
		PreStop *struct {
			Exec *struct {
				Command []string `yaml:"command"`
			} `yaml:"exec"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	Resources struct {
		Limits map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext securityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type deploymentSpec struct {
	Spec struct {
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				HostNetwork                   bool            `yaml:"hostNetwork"`
				DNSPolicy                     string          `yaml:"dnsPolicy"`
				TerminationGracePeriodSeconds *int            `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               securityContext `yaml:"securityContext"`
				InitContainers                []container     `yaml:"initContainers"`
				Containers                    []container     `yaml:"containers"`
				Volumes                       []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type serviceSpec struct {
	Spec struct {
		Type                     string            `yaml:"type"`
		ClusterIP                string            `yaml:"clusterIP"`
		PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
		Selector                 map[string]string `yaml:"selector"`
		Ports                    []struct {
			Name       string      `yaml:"name"`
			Port       int         `yaml:"port"`
			TargetPort intOrString `yaml:"targetPort"`
			Protocol   string      `yaml:"protocol"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type hpaSpec struct {
	Spec struct {
		ScaleTargetRef struct {
			Kind string `yaml:"kind"`
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas int `yaml:"minReplicas"`
		MaxReplicas int `yaml:"maxReplicas"`
		Metrics     []struct {
			Type string `yaml:"type"`
			Pods *struct {
				Metric struct {
					Name string `yaml:"name"`
				} `yaml:"metric"`
				Target struct {
					Type         string `yaml:"type"`
					AverageValue string `yaml:"averageValue"`
				} `yaml:"target"`
			} `yaml:"pods"`
		} `yaml:"metrics"`
	} `yaml:"spec"`
}

// kubeConfig is the ConfigMap's template and render script.
type kubeConfig struct {
	Data map[string]string `yaml:"data"`
}

// renderedConfig runs the ConfigMap's render.sh (with awk, or with the awk
// binary given) over its template with test values for the pod and the
// Secret, and parses the result as a node configuration.
func renderedConfig(t *testing.T, cm kubeConfig, awk string, env map[string]string) (*config.Config, string, error) {
	t.Helper()
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "callcore.yml.tmpl")
	script := filepath.Join(dir, "render.sh")
	out := filepath.Join(dir, "callcore.yml")
	require.NoError(t, os.WriteFile(tmpl, []byte(cm.Data["callcore.yml.tmpl"]), 0o600))
	require.NoError(t, os.WriteFile(script, []byte(cm.Data["render.sh"]), 0o600))
	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.Mkdir(bin, 0o700))
	require.NoError(t, os.Symlink(awk, filepath.Join(bin, "awk")))
	cmd := exec.Command("sh", script, tmpl, out)
	cmd.Env = []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	msg, err := cmd.CombinedOutput()
	if err != nil {
		return nil, string(msg), err
	}
	info, err := os.Stat(out)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the rendered configuration holds secrets")
	cfg, err := config.Load(out)
	return cfg, string(msg), err
}

var templateVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func TestKubernetesManifests(t *testing.T) {
	objs := kubeObjects(t)

	// The ConfigMap renders to a valid configuration, with every awk the
	// image may have (Debian slim: mawk).
	var cm kubeConfig
	kubeObjectOf(t, objs, "ConfigMap", "callcore-config", &cm)
	var secret struct {
		StringData map[string]string `yaml:"stringData"`
	}
	kubeObjectOf(t, objs, "Secret", "callcore-secrets", &secret)

	var dep deploymentSpec
	kubeObjectOf(t, objs, "Deployment", "callcore", &dep)
	pod := dep.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	main := pod.Containers[0]
	require.Len(t, pod.InitContainers, 1)
	initC := pod.InitContainers[0]

	// Where each ${VAR} of the template comes from: the downward API of the
	// init container or the Secret.
	fromPod := map[string]string{}
	for _, e := range initC.Env {
		fromPod[e.Name] = e.ValueFrom.FieldRef.FieldPath
	}
	require.Equal(t, "metadata.name", fromPod["POD_NAME"])
	require.Equal(t, "status.podIP", fromPod["POD_IP"])
	require.Equal(t, "status.hostIP", fromPod["PUBLIC_HOST"])
	require.Len(t, initC.EnvFrom, 1)
	require.Equal(t, "callcore-secrets", initC.EnvFrom[0].SecretRef.Name)
	for _, m := range templateVar.FindAllStringSubmatch(cm.Data["callcore.yml.tmpl"], -1) {
		_, pod := fromPod[m[1]]
		_, sec := secret.StringData[m[1]]
		require.True(t, pod || sec, "template variable ${%s} is set by neither the pod nor the Secret", m[1])
	}
	require.Contains(t, strings.Join(initC.Command, " "), "callcore -check -config /etc/callcore/callcore.yml",
		"the init container must validate the rendered configuration")

	env := map[string]string{
		"POD_NAME":                "callcore-7d9f8b6c5d-x2k4p", // a real Deployment pod name
		"POD_IP":                  "10.1.2.3",
		"PUBLIC_HOST":             "203.0.113.7",
		"CALLCORE_REDIS_URL":      "redis+sentinel://:pw@s1:26379,s2:26379/0?master_name=mymaster",
		"CALLCORE_APP_SECRET":     "BeIukql3pTKJ8RGL5zo0DA==",
		"CALLCORE_CLUSTER_SECRET": "0123456789abcdef0123456789abcdef",
	}
	var cfg *config.Config
	awks := 0
	for _, name := range []string{"mawk", "gawk", "original-awk", "busybox"} {
		awk, err := exec.LookPath(name)
		if err != nil || name == "busybox" {
			continue // busybox needs "busybox awk"; not a plain awk binary
		}
		awks++
		c, out, err := renderedConfig(t, cm, awk, env)
		require.NoError(t, err, "render with %s: %s", name, out)
		cfg = c
		// Placeholders and bad values stop the pod before callcore starts.
		bad := map[string]string{}
		for k, v := range env {
			bad[k] = v
		}
		delete(bad, "CALLCORE_REDIS_URL")
		_, out, err = renderedConfig(t, cm, awk, bad)
		require.Error(t, err, name)
		require.Contains(t, out, "${CALLCORE_REDIS_URL} is not set", name)
		bad["CALLCORE_REDIS_URL"] = `redis://:pa"ss@r:6379`
		_, out, err = renderedConfig(t, cm, awk, bad)
		require.Error(t, err, name)
		require.Contains(t, out, "double quote", name)
		withPlaceholders := map[string]string{}
		for k, v := range env {
			withPlaceholders[k] = v
		}
		for k, v := range secret.StringData {
			withPlaceholders[k] = v
		}
		_, _, err = renderedConfig(t, cm, awk, withPlaceholders)
		require.Error(t, err, "the Secret's placeholders must fail validation")
	}
	if awks == 0 {
		t.Skip("no awk installed")
	}
	require.Equal(t, env["POD_NAME"], cfg.Node.ID)
	require.Equal(t, env["PUBLIC_HOST"], cfg.SIP.PublicHost)
	require.Equal(t, "redis+sentinel", strings.SplitN(cfg.Store.RedisURL.Reveal(), "://", 2)[0])
	require.True(t, strings.HasPrefix(cfg.API.BaseURL, "https://"), "the public API is served over TLS (Ingress)")

	// Ports: SIP 5060 UDP and TCP, API and ops as configured.
	ports := map[string]int{}
	for _, p := range main.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		ports[p.Name] = p.ContainerPort
		switch p.Name {
		case "sip-udp":
			require.Equal(t, "UDP", proto)
		case "sip-tcp", "api", "ops":
			require.Equal(t, "TCP", proto)
		}
	}
	require.Equal(t, portOf(t, cfg.SIP.Listen), ports["sip-udp"])
	require.Equal(t, portOf(t, cfg.SIP.Listen), ports["sip-tcp"])
	require.Equal(t, portOf(t, cfg.API.Listen), ports["api"])
	require.Equal(t, portOf(t, cfg.Ops.Listen), ports["ops"])
	require.Equal(t, 5060, ports["sip-udp"])

	// RTP: hostNetwork, the range documented on the pod = the configuration's.
	require.True(t, pod.HostNetwork, "RTP ranges cannot go through Services; the pods use the nodes' network")
	require.Equal(t, "ClusterFirstWithHostNet", pod.DNSPolicy)
	require.Equal(t, cfg.Media.RTPPorts.String(), dep.Spec.Template.Metadata.Annotations["callcore.io/rtp-ports"])
	require.Equal(t, cfg.Node.Region, dep.Spec.Template.Metadata.Labels["callcore.io/region"])

	// Probes on the ops port: readiness /readyz, liveness /healthz.
	for name, pr := range map[string]*probe{"readiness": main.ReadinessProbe, "liveness": main.LivenessProbe, "startup": main.StartupProbe} {
		require.NotNil(t, pr, "%s probe", name)
		require.NotNil(t, pr.HTTPGet, "%s probe", name)
		require.Equal(t, "ops", string(pr.HTTPGet.Port), "%s probe port", name)
	}
	require.Equal(t, "/readyz", main.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, "/healthz", main.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "/healthz", main.StartupProbe.HTTPGet.Path)

	// Drain: preStop, then SIGTERM; the grace period covers preStop,
	// drain_timeout and callcore's 30 s of shutdown after it.
	require.NotNil(t, main.Lifecycle.PreStop)
	require.NotNil(t, main.Lifecycle.PreStop.Exec)
	cmd := main.Lifecycle.PreStop.Exec.Command
	require.Len(t, cmd, 2)
	require.Equal(t, "sleep", cmd[0])
	preStop, err := time.ParseDuration(cmd[1] + "s")
	require.NoError(t, err)
	require.NotNil(t, pod.TerminationGracePeriodSeconds)
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	require.Greater(t, grace, cfg.Node.DrainTimeout, "terminationGracePeriodSeconds must be above node.drain_timeout")
	require.GreaterOrEqual(t, grace, preStop+cfg.Node.DrainTimeout+30*time.Second,
		"terminationGracePeriodSeconds %s < preStop %s + drain_timeout %s + 30s of shutdown", grace, preStop, cfg.Node.DrainTimeout)

	// Non-root, no privilege escalation, read-only root file system.
	require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
	require.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.NotNil(t, pod.SecurityContext.RunAsUser)
	require.NotZero(t, *pod.SecurityContext.RunAsUser)
	require.Equal(t, dockerfileUID(t), *pod.SecurityContext.RunAsUser, "runAsUser = the image's USER")
	for _, c := range []container{main, initC} {
		require.NotNil(t, c.SecurityContext.AllowPrivilegeEscalation, c.Name)
		require.False(t, *c.SecurityContext.AllowPrivilegeEscalation, c.Name)
		require.NotNil(t, c.SecurityContext.ReadOnlyRootFilesystem, c.Name)
		require.True(t, *c.SecurityContext.ReadOnlyRootFilesystem, c.Name)
		require.Equal(t, []string{"ALL"}, c.SecurityContext.Capabilities.Drop, c.Name)
	}
	require.NotContains(t, main.Resources.Limits, "cpu", "a CPU limit throttles the 20 ms media clocks")

	// Images: the callcore image, pinned, the same in both containers and
	// in kustomization.yaml's images.
	require.Equal(t, main.Image, initC.Image)
	name, tag, ok := strings.Cut(main.Image, ":")
	require.True(t, ok, "image %q is not pinned", main.Image)
	require.NotEqual(t, "latest", tag)
	var kust struct {
		Images []struct {
			Name string `yaml:"name"`
		} `yaml:"images"`
	}
	decodeYAML(t, &kust, "deploy", "kubernetes", "kustomization.yaml")
	require.True(t, slices.ContainsFunc(kust.Images, func(i struct {
		Name string `yaml:"name"`
	}) bool {
		return i.Name == name
	}), "kustomization.yaml does not pin %s", name)
	require.Equal(t, []string{"-config", "/etc/callcore/callcore.yml"}, main.Args)

	// Services select the pods and reach the named ports.
	sel := dep.Spec.Selector.MatchLabels
	require.Subset(t, dep.Spec.Template.Metadata.Labels, sel)
	services := map[string]serviceSpec{}
	for _, o := range objs {
		if o.Kind == "Service" {
			var s serviceSpec
			require.NoError(t, o.node.Decode(&s))
			require.Equal(t, sel, s.Spec.Selector, "Service %s", o.Metadata.Name)
			for _, p := range s.Spec.Ports {
				_, named := ports[string(p.TargetPort)]
				require.True(t, named, "Service %s: targetPort %q is not a container port", o.Metadata.Name, p.TargetPort)
			}
			services[o.Metadata.Name] = s
		}
	}
	sip := services["callcore-sip"]
	require.Equal(t, "None", sip.Spec.ClusterIP, "SIP is balanced by Kamailio over the pods' addresses")
	var protos []string
	for _, p := range sip.Spec.Ports {
		require.Equal(t, 5060, p.Port)
		protos = append(protos, p.Protocol)
	}
	slices.Sort(protos)
	require.Equal(t, []string{"TCP", "UDP"}, protos)
	require.Equal(t, "api", string(services["callcore-api"].Spec.Ports[0].TargetPort))
	require.True(t, services["callcore-ops"].Spec.PublishNotReadyAddresses, "draining pods must still be scraped")
	require.Equal(t, "ops", string(services["callcore-ops"].Spec.Ports[0].TargetPort))

	// The Ingress sends to the API Service.
	var ing struct {
		Spec struct {
			TLS   []struct{} `yaml:"tls"`
			Rules []struct {
				HTTP struct {
					Paths []struct {
						Backend struct {
							Service struct {
								Name string `yaml:"name"`
								Port struct {
									Name string `yaml:"name"`
								} `yaml:"port"`
							} `yaml:"service"`
						} `yaml:"backend"`
					} `yaml:"paths"`
				} `yaml:"http"`
			} `yaml:"rules"`
		} `yaml:"spec"`
	}
	kubeObjectOf(t, objs, "Ingress", "", &ing)
	require.NotEmpty(t, ing.Spec.TLS, "TLS terminates at the Ingress")
	require.Equal(t, "callcore-api", ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name)
	require.Equal(t, "api", ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name)

	// PodDisruptionBudget over the same pods.
	var pdb struct {
		Spec struct {
			MaxUnavailable *int `yaml:"maxUnavailable"`
			Selector       struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
		} `yaml:"spec"`
	}
	kubeObjectOf(t, objs, "PodDisruptionBudget", "", &pdb)
	require.Equal(t, sel, pdb.Spec.Selector.MatchLabels)
	require.NotNil(t, pdb.Spec.MaxUnavailable)

	// The HPA scales the Deployment on active calls; it owns replicas.
	var hpa hpaSpec
	kubeObjectOf(t, objs, "HorizontalPodAutoscaler", "", &hpa)
	require.Equal(t, "Deployment", hpa.Spec.ScaleTargetRef.Kind)
	require.Equal(t, "callcore", hpa.Spec.ScaleTargetRef.Name)
	require.GreaterOrEqual(t, hpa.Spec.MinReplicas, 2)
	require.Len(t, hpa.Spec.Metrics, 1)
	require.Equal(t, "callcore_calls_active", hpa.Spec.Metrics[0].Pods.Metric.Name)
	require.Nil(t, dep.Spec.Replicas, "with an HPA, replicas in the Deployment would be reset by every apply")

	// The Prometheus job of the pods gives the labels the rules and the
	// dashboard group by.
	checkKubeScrapeConfig(t)
}

// checkKubeScrapeConfig: deploy/kubernetes/prometheus-scrape.yml keeps the
// callcore pods in job "callcore" and sets region, node, namespace, pod.
func checkKubeScrapeConfig(t *testing.T) {
	t.Helper()
	var sc struct {
		ScrapeConfigs []struct {
			JobName        string `yaml:"job_name"`
			RelabelConfigs []struct {
				SourceLabels []string `yaml:"source_labels"`
				TargetLabel  string   `yaml:"target_label"`
				Regex        string   `yaml:"regex"`
				Action       string   `yaml:"action"`
			} `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
	}
	decodeYAML(t, &sc, "deploy", "kubernetes", "prometheus-scrape.yml")
	require.Len(t, sc.ScrapeConfigs, 1)
	job := sc.ScrapeConfigs[0]
	require.Equal(t, "callcore", job.JobName, "rules.yml selects up{job=\"callcore\"}")
	targets := map[string]string{}
	for _, r := range job.RelabelConfigs {
		if r.TargetLabel != "" {
			targets[r.TargetLabel] = strings.Join(r.SourceLabels, ",")
		}
	}
	require.Equal(t, map[string]string{
		"region":    "__meta_kubernetes_pod_label_callcore_io_region",
		"node":      "__meta_kubernetes_pod_name",
		"namespace": "__meta_kubernetes_namespace",
		"pod":       "__meta_kubernetes_pod_name",
	}, targets)
}
