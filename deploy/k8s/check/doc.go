// Package check tests Ordo's deployment files as a user of them would notice mistakes:
// the kustomizations under deploy/k8s render and every object decodes strictly into the
// Kubernetes API types, selectors select, referenced ports, ConfigMaps and Secrets exist;
// docker-compose.yml loads as Docker Compose loads it; the Docker build context holds
// what the build needs; the Prometheus Operator rules match deploy/prometheus/alerts.yml;
// the Grafana dashboard's queries parse and name metrics the code exports.
//
// It is its own Go module so that the Kubernetes, kustomize and compose libraries stay out
// of the product's go.mod. Run it with `make check-deploy`.
package check
