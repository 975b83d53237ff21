package dev.miij.server.deploy;

import dev.miij.MiiException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;

/** Replica ports: MII's port+1 .. port+N, or any free ports when the deployment's port is 0. */
final class Ports {

    private Ports() {
    }

    static List<Integer> replicaPorts(int requestedPort, int replicas) {
        List<Integer> ports = new ArrayList<>();
        if (requestedPort == 0) {
            // Hold every socket until all are chosen so the same port is not picked twice.
            List<ServerSocket> held = new ArrayList<>();
            try {
                for (int i = 0; i < replicas; i++) {
                    ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                    held.add(s);
                    ports.add(s.getLocalPort());
                }
            } catch (IOException e) {
                throw MiiException.io("cannot find free ports for the replicas: " + e.getMessage(), e);
            } finally {
                held.forEach(Ports::closeQuietly);
            }
            return ports;
        }
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
