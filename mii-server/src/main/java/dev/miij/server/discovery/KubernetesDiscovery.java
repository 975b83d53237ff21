package dev.miij.server.discovery;

import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * Replicas as the EndpointSlices of a Kubernetes Service list them ({@code kubernetes:SERVICE}): every
 * endpoint that is ready, at the Service's port named {@code grpc} (or its only port). Slices are
 * watched, so a pod that turns ready joins and one that stops or is deleted leaves within moments.
 * Needs get, list and watch on {@code endpointslices} in the namespace (the chart's Role grants them).
 */
public final class KubernetesDiscovery implements ReplicaDiscovery {

    /** Environment variable with the namespace to watch; default: the pod's own (service account) namespace. */
    public static final String NAMESPACE_ENV = "MII_NAMESPACE";

    private static final Logger LOG = Logger.getLogger(KubernetesDiscovery.class.getName());
    private static final String SERVICE_LABEL = "kubernetes.io/service-name";

    private final KubernetesClient client;
    private final boolean ownsClient;
    private final String namespace;
    private final String service;
    private final String portName;
    private SharedIndexInformer<EndpointSlice> informer;

    /**
     * @param client   the client to watch through (closed with this only if {@code ownsClient})
     * @param namespace the Service's namespace, or null for the client's
     */
    public KubernetesDiscovery(KubernetesClient client, boolean ownsClient, String namespace, String service, String portName) {
        this.client = client;
        this.ownsClient = ownsClient;
        this.namespace = namespace != null ? namespace : client.getNamespace() != null ? client.getNamespace() : "default";
        this.service = service;
        this.portName = portName;
    }

    /** Through the pod's service account (or ~/.kube/config outside a cluster). */
    static KubernetesDiscovery inCluster(String service, String portName) {
        String ns = System.getenv(NAMESPACE_ENV);
        return new KubernetesDiscovery(new KubernetesClientBuilder().build(), true, ns == null || ns.isBlank() ? null : ns,
                service, portName);
    }

    @Override
    public synchronized void start(Consumer<List<InetSocketAddress>> onChange) {
        Map<String, EndpointSlice> slices = new ConcurrentHashMap<>();
        Runnable report = () -> {
            synchronized (slices) {
                onChange.accept(addresses(slices.values()));
            }
        };
        informer = client.discovery().v1().endpointSlices().inNamespace(namespace).withLabel(SERVICE_LABEL, service)
                .inform(new ResourceEventHandler<>() {
                    @Override
                    public void onAdd(EndpointSlice s) {
                        slices.put(s.getMetadata().getName(), s);
                        report.run();
                    }

                    @Override
                    public void onUpdate(EndpointSlice old, EndpointSlice s) {
                        slices.put(s.getMetadata().getName(), s);
                        report.run();
                    }

                    @Override
                    public void onDelete(EndpointSlice s, boolean finalStateUnknown) {
                        slices.remove(s.getMetadata().getName());
                        report.run();
                    }
                }, 0);
        LOG.info("watching the EndpointSlices of Service " + namespace + "/" + service);
        report.run();
    }

    /** The ready endpoints of {@code slices} at the replicas' port. */
    List<InetSocketAddress> addresses(Collection<EndpointSlice> slices) {
        Set<InetSocketAddress> out = new LinkedHashSet<>();
        for (EndpointSlice s : slices) {
            Integer port = port(s);
            if (port == null || s.getEndpoints() == null) {
                continue;
            }
            for (Endpoint e : s.getEndpoints()) {
                // Absent "ready" means ready (the API's rule); a terminating pod is not ready.
                if (e.getConditions() != null && Boolean.FALSE.equals(e.getConditions().getReady())) {
                    continue;
                }
                for (String a : e.getAddresses()) {
                    out.add(new InetSocketAddress(a, port));
                }
            }
        }
        return new ArrayList<>(out);
    }

    private Integer port(EndpointSlice s) {
        List<EndpointPort> ports = s.getPorts() == null ? List.of() : s.getPorts();
        for (EndpointPort p : ports) {
            if (portName.equals(p.getName())) {
                return p.getPort();
            }
        }
        return ports.size() == 1 ? ports.getFirst().getPort() : null;
    }

    @Override
    public String describe() {
        return "EndpointSlices of Service " + namespace + "/" + service + " (port " + portName + ")";
    }

    @Override
    public synchronized void close() {
        if (informer != null) {
            informer.close();
        }
        if (ownsClient) {
            client.close();
        }
    }
}
