package dev.miij.server.deploy;

import dev.miij.MiiException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;

/**
 * A deployment's ports, load balancer first: MII's port, port+1 .. port+N, or when the port is 0 any
 * free ports (all chosen together, so the load balancer cannot be given a replica's).
 */
final class Ports {

    private Ports() {
    }

    static List<Integer> choose(int requestedPort, int replicas) {
        List<Integer> ports = new ArrayList<>();
        if (requestedPort == 0) {
            // Hold every socket until all are chosen so the same port is not picked twice.
            List<ServerSocket> held = new ArrayList<>();
            try {
                for (int i = 0; i <= replicas; i++) {
                    ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                    held.add(s);
                    ports.add(s.getLocalPort());
                }
            } catch (IOException e) {
                throw MiiException.io("cannot find free ports for the deployment: " + e.getMessage(), e);
            } finally {
                held.forEach(Ports::closeQuietly);
            }
            return ports;
        }
        // The load balancer's own port is checked by binding it.
        ports.add(requestedPort);
        for (int i = 1; i <= replicas; i++) {
            int p = requestedPort + i;
            if (!free(p)) {
                throw MiiException.io("port " + p + " (for replica " + (i - 1) + ", the ports after " + requestedPort
                        + ") is in use; choose another port_number (--port)", null);
            }
            ports.add(p);
        }
        return ports;
    }

    static boolean free(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static void closeQuietly(ServerSocket s) {
        try {
            s.close();
        } catch (IOException e) {
            // nothing to do
        }
    }
}
