package check

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// roles are the long-running `ordo` subcommands, one Deployment each.
var roles = []string{"serve", "relay", "project", "saga", "analytics", "notify"}

// consumerRoles scale with Kafka partitions through consumer groups.
var consumerRoles = []string{"project", "saga", "analytics"}

// rendered is one kustomization's output, decoded.
type rendered struct {
	deployments map[string]*appsv1.Deployment
	services    []*corev1.Service
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
	netpols     []*networkingv1.NetworkPolicy
	jobs        []*batchv1.Job
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	podMonitors []*podMonitor
	rules       []*prometheusRule
	all         []objectMeta
}

type objectMeta struct {
	Kind      string
	Name      string
	Namespace string
}

// render builds dir with kustomize's own library (what `kubectl kustomize` runs) and
// decodes every object strictly: an unknown or misspelt field fails.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	out := rendered{
		deployments: map[string]*appsv1.Deployment{},
		configMaps:  map[string]*corev1.ConfigMap{},
		secrets:     map[string]*corev1.Secret{},
	}
	for _, r := range rm.Resources() {
		data, err := r.AsYAML()
		require.NoError(t, err)
		id := fmt.Sprintf("%s %s/%s", dir, r.GetKind(), r.GetName())
		out.all = append(out.all, objectMeta{Kind: r.GetKind(), Name: r.GetName(), Namespace: r.GetNamespace()})
		decode := func(into any) {
			require.NoError(t, yaml.UnmarshalStrict(data, into), "%s does not decode strictly into %T", id, into)
		}
		switch gvk := r.GetApiVersion() + " " + r.GetKind(); gvk {
		case "v1 Namespace":
			decode(&corev1.Namespace{})
		case "v1 ServiceAccount":
			decode(&corev1.ServiceAccount{})
		case "v1 ConfigMap":
			var o corev1.ConfigMap
			decode(&o)
			out.configMaps[o.Name] = &o
		case "v1 Secret":
			var o corev1.Secret
			decode(&o)
			out.secrets[o.Name] = &o
		case "v1 Service":
			var o corev1.Service
			decode(&o)
			out.services = append(out.services, &o)
		case "apps/v1 Deployment":
			var o appsv1.Deployment
			decode(&o)
			out.deployments[o.Name] = &o
		case "batch/v1 Job":
			var o batchv1.Job
			decode(&o)
			out.jobs = append(out.jobs, &o)
		case "autoscaling/v2 HorizontalPodAutoscaler":
			var o autoscalingv2.HorizontalPodAutoscaler
			decode(&o)
			out.hpas = append(out.hpas, &o)
		case "policy/v1 PodDisruptionBudget":
			var o policyv1.PodDisruptionBudget
			decode(&o)
			out.pdbs = append(out.pdbs, &o)
		case "networking.k8s.io/v1 NetworkPolicy":
			var o networkingv1.NetworkPolicy
			decode(&o)
			out.netpols = append(out.netpols, &o)
		case "monitoring.coreos.com/v1 PodMonitor":
			var o podMonitor
			decode(&o)
			out.podMonitors = append(out.podMonitors, &o)
		case "monitoring.coreos.com/v1 PrometheusRule":
			var o prometheusRule
			decode(&o)
			out.rules = append(out.rules, &o)
		default:
			t.Fatalf("%s: no check knows %s; add it to render", id, gvk)
		}
	}
	return out
}

func k8sDir(parts ...string) string { return filepath.Join(append([]string{".."}, parts...)...) }

func TestKustomizationsRender(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"base", "overlays/dev", "overlays/production"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			r := render(t, k8sDir(dir))
			checkCommon(t, r, dir != "overlays/dev")
		})
	}
}

// checkCommon checks what must hold in every rendering. externalSecret: the Secret
// ordo-secrets comes from outside the kustomization.
func checkCommon(t *testing.T, r rendered, externalSecret bool) {
	t.Helper()
	for _, o := range r.all {
		if o.Kind != "Namespace" {
			require.Equal(t, "ordo", o.Namespace, "%s/%s has no namespace ordo", o.Kind, o.Name)
		}
	}
	for _, role := range roles {
		d, ok := r.deployments["ordo-"+role]
		require.True(t, ok, "no Deployment ordo-%s", role)
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		require.NoError(t, err)
		require.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "%s: selector does not match its pod labels", d.Name)
		require.Len(t, d.Spec.Template.Spec.Containers, 1, d.Name)
		c := d.Spec.Template.Spec.Containers[0]
		require.Equal(t, []string{role}, c.Args, "%s runs the wrong role", d.Name)
		require.NotEmpty(t, c.Image, d.Name)
		require.NotNil(t, c.LivenessProbe, "%s has no liveness probe", d.Name)
		require.NotNil(t, c.ReadinessProbe, "%s has no readiness probe", d.Name)
		require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path, d.Name)
		if role == "serve" {
			require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path, "serve's readiness checks its dependencies")
		}
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if p != nil && p.HTTPGet != nil {
				requirePort(t, d, p.HTTPGet.Port.String())
			}
		}
		require.False(t, c.Resources.Requests.Cpu().IsZero(), "%s: no CPU request", d.Name)
		require.False(t, c.Resources.Requests.Memory().IsZero(), "%s: no memory request", d.Name)
		require.False(t, c.Resources.Limits.Memory().IsZero(), "%s: no memory limit", d.Name)
		requireRestricted(t, d.Name, d.Spec.Template.Spec, c)
		requirePDB(t, r, d)
		if role != "serve" {
			requirePort(t, d, "metrics")
			require.Equal(t, "0.0.0.0:9464", r.env(t, c, "ORDO_METRICS_ADDR"), "%s: the metrics listener must be reachable from outside the pod", d.Name)
		}
		requireRefs(t, r, d.Name, d.Spec.Template.Spec, externalSecret)
		_, hasJWT := envNames(c)["ORDO_JWT_SECRET"]
		require.Equal(t, role == "serve", hasJWT, "%s: only serve (the API) gets the JWT secret", d.Name)
	}
	require.Len(t, r.deployments, len(roles), "a Deployment per role and no other")
	require.Nil(t, r.deployments["ordo-serve"].Spec.Replicas, "the HPA owns serve's replica count")

	for _, s := range r.services {
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			continue // the headless metrics Service spans roles; its ports are per pod
		}
		ds := r.selected(t, s.Spec.Selector)
		require.NotEmpty(t, ds, "Service %s selects no Deployment", s.Name)
		for _, d := range ds {
			for _, p := range s.Spec.Ports {
				requirePort(t, d, p.TargetPort.String())
			}
		}
	}
	for _, np := range r.netpols {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		require.NoError(t, err)
		require.NotEmpty(t, r.selectedBy(sel), "NetworkPolicy %s selects no pod", np.Name)
	}
	require.Len(t, r.hpas, 1)
	hpa := r.hpas[0]
	require.Equal(t, "Deployment", hpa.Spec.ScaleTargetRef.Kind)
	require.Equal(t, "ordo-serve", hpa.Spec.ScaleTargetRef.Name)

	require.Len(t, r.jobs, 1, "the migrate Job")
	job := r.jobs[0]
	require.Equal(t, []string{"migrate"}, job.Spec.Template.Spec.Containers[0].Args)
	requireRefs(t, r, job.Name, job.Spec.Template.Spec, externalSecret)
	requireRestricted(t, job.Name, job.Spec.Template.Spec, job.Spec.Template.Spec.Containers[0])
}

// env returns the value a container gets for name from its env or its ConfigMaps.
func (r rendered) env(t *testing.T, c corev1.Container, name string) string {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			if cm, ok := r.configMaps[ef.ConfigMapRef.Name]; ok {
				if v, ok := cm.Data[name]; ok {
					return v
				}
			}
		}
	}
	return ""
}

func envNames(c corev1.Container) map[string]bool {
	out := map[string]bool{}
	for _, e := range c.Env {
		out[e.Name] = true
	}
	return out
}

func (r rendered) selectedBy(sel labels.Selector) []*appsv1.Deployment {
	var out []*appsv1.Deployment
	for _, d := range r.deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, d)
		}
	}
	return out
}

func (r rendered) selected(t *testing.T, m map[string]string) []*appsv1.Deployment {
	t.Helper()
	require.NotEmpty(t, m, "empty selector")
	return r.selectedBy(labels.SelectorFromSet(m))
}

// requirePort checks that a probe's or Service's port (a name or a number) exists in d.
func requirePort(t *testing.T, d *appsv1.Deployment, port string) {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
				return
			}
		}
	}
	t.Fatalf("%s has no container port %q", d.Name, port)
}

// requireRefs checks that every ConfigMap and Secret a pod uses is in the rendering,
// except the externally provided ordo-secrets when externalSecret.
func requireRefs(t *testing.T, r rendered, name string, spec corev1.PodSpec, externalSecret bool) {
	t.Helper()
	cs := slices.Concat(spec.InitContainers, spec.Containers)
	for _, c := range cs {
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				require.Contains(t, r.configMaps, ef.ConfigMapRef.Name, "%s: ConfigMap %s is not rendered", name, ef.ConfigMapRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				continue
			}
			ref := e.ValueFrom.SecretKeyRef
			if externalSecret {
				require.Equal(t, "ordo-secrets", ref.Name, "%s: secrets come from ordo-secrets", name)
				continue
			}
			s, ok := r.secrets[ref.Name]
			require.True(t, ok, "%s: Secret %s is not rendered", name, ref.Name)
			require.Contains(t, s.Data, ref.Key, "%s: Secret %s has no key %s", name, ref.Name, ref.Key)
		}
	}
}

// requireRestricted checks the settings the namespace's "restricted" Pod Security
// Standard requires, which the API server would otherwise reject at admission.
func requireRestricted(t *testing.T, name string, spec corev1.PodSpec, c corev1.Container) {
	t.Helper()
	psc := spec.SecurityContext
	require.NotNil(t, psc, name)
	require.True(t, psc.RunAsNonRoot != nil && *psc.RunAsNonRoot, "%s: runAsNonRoot", name)
	require.NotNil(t, psc.SeccompProfile, name)
	require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type, name)
	sc := c.SecurityContext
	require.NotNil(t, sc, name)
	require.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "%s: allowPrivilegeEscalation", name)
	require.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "%s: readOnlyRootFilesystem", name)
	require.NotNil(t, sc.Capabilities, name)
	require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, name)
	require.False(t, ptrTrue(spec.AutomountServiceAccountToken), "%s: mounts a service account token it does not need", name)
}

func ptrTrue(b *bool) bool { return b == nil || *b }

// requirePDB checks that exactly one PodDisruptionBudget covers d and that it lets a node
// drain even with one replica.
func requirePDB(t *testing.T, r rendered, d *appsv1.Deployment) {
	t.Helper()
	var n int
	for _, p := range r.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		require.NoError(t, err)
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			n++
			require.NotNil(t, p.Spec.MaxUnavailable, "PDB %s: maxUnavailable, so a single replica can still be evicted", p.Name)
		}
	}
	require.Equal(t, 1, n, "%s: PodDisruptionBudgets covering it", d.Name)
}

func TestDevOverlay(t *testing.T) {
	t.Parallel()
	r := render(t, k8sDir("overlays", "dev"))
	for name, d := range r.deployments {
		if name == "ordo-serve" {
			continue
		}
		require.NotNil(t, d.Spec.Replicas, name)
		require.EqualValues(t, 1, *d.Spec.Replicas, "%s: dev runs one replica", name)
	}
	require.EqualValues(t, 1, *r.hpas[0].Spec.MinReplicas)
	require.Len(t, r.secrets, 1, "dev generates its Secret")
	require.True(t, strings.HasSuffix(r.deployments["ordo-serve"].Spec.Template.Spec.Containers[0].Image, ":dev"))
}

func TestProductionOverlay(t *testing.T) {
	t.Parallel()
	r := render(t, k8sDir("overlays", "production"))
	require.Empty(t, r.secrets, "production must not carry a Secret: it comes from the secret store")
	c := r.deployments["ordo-serve"].Spec.Template.Spec.Containers[0]
	require.Equal(t, "3", r.env(t, c, "ORDO_KAFKA_REPLICATION_FACTOR"))
	require.Equal(t, "2", r.env(t, c, "ORDO_KAFKA_MIN_INSYNC_REPLICAS"))
	require.NotContains(t, c.Image, ":latest")
	require.GreaterOrEqual(t, *r.hpas[0].Spec.MinReplicas, int32(2), "serve survives losing a pod")

	relay := r.deployments["ordo-relay"]
	require.EqualValues(t, 2, *relay.Spec.Replicas, "one leader and one standby")
	aff := relay.Spec.Template.Spec.Affinity
	require.True(t, aff != nil && aff.PodAntiAffinity != nil && len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0,
		"the relay standby must be on another node")

	partitions, err := strconv.Atoi(r.env(t, c, "ORDO_KAFKA_PARTITIONS"))
	require.NoError(t, err)
	for name, d := range r.deployments {
		cc := d.Spec.Template.Spec.Containers[0]
		require.False(t, cc.Resources.Limits.Cpu().IsZero(), "%s: production sets CPU limits", name)
		require.NotEmpty(t, d.Spec.Template.Spec.TopologySpreadConstraints, "%s: spread over zones", name)
		if slices.Contains(consumerRoles, strings.TrimPrefix(name, "ordo-")) {
			require.LessOrEqual(t, int(*d.Spec.Replicas), partitions, "%s: more replicas than partitions sit idle", name)
		}
	}
	require.Len(t, r.podMonitors, 1)
	require.Len(t, r.rules, 1)
}

func TestMigrateInitComponent(t *testing.T) {
	t.Parallel()
	// A throwaway overlay that adds the component to the base.
	dir := t.TempDir()
	abs, err := filepath.Abs(k8sDir())
	require.NoError(t, err)
	rel := func(p string) string {
		s, err := filepath.Rel(dir, filepath.Join(abs, p))
		require.NoError(t, err)
		return s
	}
	writeFile(t, filepath.Join(dir, "kustomization.yaml"), fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ordo
resources: [%s]
components: [%s]
images:
  - name: ordo
    newName: ordo
    newTag: test
`, rel("base"), rel("components/migrate-init")))
	r := render(t, dir)
	require.Empty(t, r.jobs, "the component replaces the Job")
	for name, d := range r.deployments {
		ics := d.Spec.Template.Spec.InitContainers
		require.Len(t, ics, 1, name)
		require.Equal(t, []string{"migrate"}, ics[0].Args, name)
		require.Equal(t, "ordo:test", ics[0].Image, "%s: the image setting reaches the init container", name)
		requireRefs(t, r, name, d.Spec.Template.Spec, true)
		requireRestricted(t, name+" init", d.Spec.Template.Spec, ics[0])
	}
}
