// Package deploy checks the deployment artifacts of deploy/ against the
// code: the Prometheus rules (promtool check and unit tests), every metric
// the Grafana dashboard and the alerts use (it must exist on a real node's
// /metrics), the docker compose file, the Kubernetes manifests and the
// Dockerfile (images, ports, probes, drain, non-root user). No container
// engine is needed: the files are parsed and checked, not run.
package deploy
