/**
 * The node suite's ingress: Traefik (built from its Go module, src/dev/ingress-controller.ts) in its own
 * namespace, watching one app namespace with the RBAC its docs give (namespaced reads of Ingresses,
 * Services, EndpointSlices and Secrets; cluster-wide reads of IngressClasses and Nodes), its HTTPS
 * entry point published by a NodePort Service on the node's address; a web backend; and a TLS client.
 */
import { connect, type DetailedPeerCertificate } from 'node:tls';
import * as k8s from '@kubernetes/client-node';
import { pollUntil } from '../../src/util/poll.ts';
import { RESTRICTED } from './support.ts';

const CONTROLLER = 'traefik';
const INGRESS_CLASS = 'traefik';
const HTTPS_PORT = 8443;
const PING_PORT = 9000;

/** A Node HTTP server answering every request with `hello`, in the kvsync image (it has Node). */
const WEB_SERVER = `require('node:http').createServer((req, res) => res.end('hello')).listen(8080);`;

export interface IngressSetup {
  /** Namespace of the controller. */
  namespace: string;
  /** Namespace whose Ingresses and Secrets it serves. */
  watched: string;
  controllerImage: string;
  /** An image with Node at /nodejs/bin/node, for the web backend. */
  appImage: string;
}

/** Creates the controller, its RBAC, IngressClass and NodePort Service; returns the NodePort once it is Ready. */
export async function deployIngressController(kc: k8s.KubeConfig, s: IngressSetup): Promise<number> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);
  const labels = { app: CONTROLLER };
  const subject = { kind: 'ServiceAccount', name: CONTROLLER, namespace: s.namespace };
  await core.createNamespace({ body: { metadata: { name: s.namespace } } });
  await core.createNamespacedServiceAccount({ namespace: s.namespace, body: { metadata: { name: CONTROLLER } } });
  await rbac.createClusterRole({
    body: {
      metadata: { name: `${s.namespace}-${CONTROLLER}` },
      rules: [
        { apiGroups: ['networking.k8s.io'], resources: ['ingressclasses'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
      ],
    },
  });
  await rbac.createClusterRoleBinding({
    body: { metadata: { name: `${s.namespace}-${CONTROLLER}` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${s.namespace}-${CONTROLLER}` }, subjects: [subject] },
  });
  await rbac.createNamespacedRole({
    namespace: s.watched,
    body: {
      metadata: { name: CONTROLLER },
      rules: [
        { apiGroups: [''], resources: ['services', 'secrets'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['networking.k8s.io'], resources: ['ingresses/status'], verbs: ['update'] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: s.watched,
    body: { metadata: { name: CONTROLLER }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: CONTROLLER }, subjects: [subject] },
  });
  await networking.createIngressClass({ body: { metadata: { name: INGRESS_CLASS }, spec: { controller: 'traefik.io/ingress-controller' } } });
  await apps.createNamespacedDeployment({
    namespace: s.namespace,
    body: oneReplica(CONTROLLER, labels, {
      serviceAccountName: CONTROLLER,
      securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 },
      containers: [{
        name: CONTROLLER,
        image: s.controllerImage,
        imagePullPolicy: 'Never',
        securityContext: RESTRICTED,
        args: [
          // Nothing leaves this machine: no update check, no usage report.
          '--global.checkNewVersion=false',
          '--global.sendAnonymousUsage=false',
          `--entryPoints.websecure.address=:${HTTPS_PORT}`,
          // Every router on this entry point terminates TLS (what Traefik's own chart sets).
          '--entryPoints.websecure.http.tls=true',
          `--entryPoints.traefik.address=:${PING_PORT}`,
          '--ping=true',
          '--providers.kubernetesingress=true',
          `--providers.kubernetesingress.namespaces=${s.watched}`,
        ],
        ports: [{ name: 'websecure', containerPort: HTTPS_PORT }, { name: 'ping', containerPort: PING_PORT }],
        readinessProbe: { httpGet: { path: '/ping', port: PING_PORT }, periodSeconds: 2 },
      }],
    }),
  });
  const service = await core.createNamespacedService({
    namespace: s.namespace,
    body: { metadata: { name: CONTROLLER }, spec: { type: 'NodePort', selector: labels, ports: [{ name: 'websecure', port: 443, targetPort: HTTPS_PORT }] } },
  });
  await pollUntil(async () => {
    const d = await apps.readNamespacedDeployment({ name: CONTROLLER, namespace: s.namespace });
    return (d.status?.readyReplicas ?? 0) >= 1 ? true : undefined;
  }, { timeoutMs: 120_000, intervalMs: 1000, description: 'the ingress controller Ready' });
  const nodePort = service.spec?.ports?.[0]?.nodePort;
  if (nodePort === undefined) throw new Error('the ingress controller Service has no NodePort');
  return nodePort;
}

/** A web backend (Deployment + Service `web`) and an Ingress for `host` with `tls.secretName`. */
export async function deployTlsIngress(kc: k8s.KubeConfig, s: IngressSetup, host: string, secretName: string): Promise<void> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);
  const labels = { app: 'web' };
  await apps.createNamespacedDeployment({
    namespace: s.watched,
    body: oneReplica('web', labels, {
      securityContext: { runAsNonRoot: true, runAsUser: 1000 },
      containers: [{ name: 'web', image: s.appImage, imagePullPolicy: 'Never', securityContext: RESTRICTED, command: ['/nodejs/bin/node', '-e', WEB_SERVER], ports: [{ containerPort: 8080 }] }],
    }),
  });
  await core.createNamespacedService({ namespace: s.watched, body: { metadata: { name: 'web' }, spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] } } });
  await networking.createNamespacedIngress({
    namespace: s.watched,
    body: {
      metadata: { name: 'web', annotations: { 'traefik.ingress.kubernetes.io/router.entrypoints': 'websecure' } },
      spec: {
        ingressClassName: INGRESS_CLASS,
        tls: [{ hosts: [host], secretName }],
        rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }],
      },
    },
  });
}

function oneReplica(name: string, labels: Record<string, string>, spec: k8s.V1PodSpec): k8s.V1Deployment {
  return { metadata: { name, labels }, spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec } } };
}

/** Removes what {@link deployIngressController} and {@link deployTlsIngress} created outside the namespaces' own deletion. */
export async function removeIngressController(kc: k8s.KubeConfig, s: IngressSetup): Promise<void> {
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  await kc.makeApiClient(k8s.NetworkingV1Api).deleteIngressClass({ name: INGRESS_CLASS }).catch(() => {});
  await rbac.deleteClusterRoleBinding({ name: `${s.namespace}-${CONTROLLER}` }).catch(() => {});
  await rbac.deleteClusterRole({ name: `${s.namespace}-${CONTROLLER}` }).catch(() => {});
  await kc.makeApiClient(k8s.CoreV1Api).deleteNamespace({ name: s.namespace }).catch(() => {});
}

export interface ServedCertificate {
  /** Whether the chain verified against the given roots alone, for the host name. */
  authorized: boolean;
  /** Leaf first, then each issuer the server sent, as far as the trusted root. */
  chain: { subject: string; issuer: string; serialNumber: string }[];
  /** Status and body of `GET /` through the ingress. */
  response: string;
}

/**
 * Connects with TLS to `address:port` asking for `host` (SNI), trusting only `ca`; returns the chain
 * the server presented and the answer to `GET /`.
 */
export async function fetchServedCertificate(address: string, port: number, host: string, ca: string): Promise<ServedCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port, servername: host, ca, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const chain: ServedCertificate['chain'] = [];
      let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      while (cert !== undefined && Object.keys(cert).length > 0) {
        chain.push({ subject: distinguishedName(cert.subject), issuer: distinguishedName(cert.issuer), serialNumber: cert.serialNumber.toUpperCase() });
        // A self-signed root is its own issuer.
        cert = cert.issuerCertificate === cert ? undefined : cert.issuerCertificate;
      }
      const authorized = socket.authorized;
      let response = '';
      socket.on('data', (d: Buffer) => (response += d.toString('utf8')));
      socket.on('end', () => resolve({ authorized, chain, response }));
      socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer from ${address}:${port} within 10 s`)));
    socket.on('error', reject);
  });
}

function distinguishedName(name: Record<string, string | string[] | undefined>): string {
  return Object.entries(name).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v ?? ''}`).join(', ');
}
